"""Processes opening the same new catalog at once (two `rules serve` workers started on a fresh home): each finds
the catalog's tables and namespaces missing and creates them; none may fail because another got there first."""
import multiprocessing

from safecity.config.profiles import load_settings
from safecity.lakehouse.catalog import NAMESPACES, open_catalog

OPENERS = 4


def open_after(barrier, home, errors):
    barrier.wait()
    try:
        open_catalog(load_settings("local", home))
    except Exception as error:  # what a worker would have died of
        errors.put(f"{type(error).__name__}: {error}")


def test_processes_opening_a_new_catalog_at_once_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")
    failures = []
    for attempt in range(4):  # the race is narrow: several fresh homes
        home, barrier, errors = tmp_path / f"home{attempt}", context.Barrier(OPENERS), context.Queue()
        openers = [context.Process(target=open_after, args=(barrier, home, errors)) for _ in range(OPENERS)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join(120)
        failures += [errors.get() for _ in range(errors.qsize())]
        assert all(opener.exitcode == 0 for opener in openers)
    assert failures == []
    namespaces = {name[0] for name in open_catalog(load_settings("local", tmp_path / "home0")).list_namespaces()}
    assert namespaces == set(NAMESPACES)
