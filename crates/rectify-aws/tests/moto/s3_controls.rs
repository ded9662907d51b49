//! Emulator tests of the actions of this family (see the module's actions).
