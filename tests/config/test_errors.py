"""tunecard.errors: the exceptions cross process boundaries whole."""

from __future__ import annotations


def test_errors_pickle_as_themselves():
    """They cross process boundaries (Ray actors, multiprocessing) with their parts and exit codes."""
    import pickle

    from tunecard.errors import Stopped, TunecardError, TunecardErrors

    one = TunecardError("--top_k", "between 1 and 2", "5", "set --top_k")
    for error in (one, TunecardErrors([one, TunecardError("a", "b", "c", "d")]), Stopped("run", "a", "b", "c")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.exit_code == error.exit_code
    assert pickle.loads(pickle.dumps(one)).fix == "set --top_k"
