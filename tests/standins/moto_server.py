"""moto server (the pinned moto) with the EC2 operations of
`moto_ec2_extras.py` added. Usage: moto_server.py [moto_server arguments]."""

import sys

import moto_ec2_extras

moto_ec2_extras.apply()

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
