# Tests of the tenant connector (issue 4).
