# Tests of the tenant emulator (issue 3).
