"""Shared by the tests that run the dataset preparation scripts as a user would."""


def run_main(main, *argv):
    """Run a preparation script's main; returns its SystemExit message (asserted to be one line) or None."""
    try:
        main([str(a) for a in argv])
    except SystemExit as e:
        assert "\n" not in str(e.code)
        return str(e.code)
    return None


def lines(path):
    return path.read_text().splitlines()
