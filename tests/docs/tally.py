"""What the docs tests share: named checks counted, and the closing line.

The same shape as tests/apps/lib.sh's ok/bad/finish, so every test prints
"N passed, N failed" and fails when nothing was checked."""

passed = failed = 0


def ok(name):
    global passed
    passed += 1
    print(f"ok   {name}")


def bad(name, why):
    global failed
    failed += 1
    print(f"FAIL {name}: {why}")


def finish():
    """Prints the summary; the exit code: 0 only if something passed and nothing failed."""
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1
