"""Where a command's peak memory goes (docs/performance.md, "Memory of a
scan"): runs the command and samples /proc/PID/smaps every 50 ms, then
prints the highest RSS seen, split into the executable's own file pages,
other files, and anonymous memory (heap, stacks), with the thread count at
that sample. The command's standard output goes to $OUT (else nowhere).

    OUT=scan.json python3 bench/scan/rss_split.py rectify --config rectify.yaml scan --output json
"""
import subprocess, sys, time, os
proc = subprocess.Popen(sys.argv[1:], stdout=open(os.environ.get("OUT","/dev/null"),"w"), stderr=subprocess.DEVNULL)
exe = os.path.realpath(sys.argv[1])
peak = None
while proc.poll() is None:
    try:
        total = binfile = other = anon = 0
        cur = None
        with open(f"/proc/{proc.pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and "-" in parts[0] and ":" not in parts[0]:
                    cur = parts[5] if len(parts) > 5 else ""
                elif parts and parts[0] == "Rss:":
                    kb = int(parts[1]); total += kb
                    if cur == exe: binfile += kb
                    elif cur and cur.startswith("/"): other += kb
                    else: anon += kb
        threads = len(os.listdir(f"/proc/{proc.pid}/task"))
        if peak is None or total > peak[0]:
            peak = (total, binfile, other, anon, threads)
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    time.sleep(0.05)
t, b, o, a, th = peak or (0,0,0,0,0)
print(f"exit {proc.returncode} peak_rss {t/1024:.1f} MiB: binary {b/1024:.1f}, other files {o/1024:.1f}, anonymous {a/1024:.1f}; threads {th}")
