"""The ensemble reference sample kept in the store: computed by the first scorer of a key, read by every later one."""

from __future__ import annotations

import math

import pytest
from pgserver import postgres_dsn, postgres_server  # noqa: F401 - fixtures
from store_backends import location  # noqa: F401 - each back end in turn

from app.executors.ray_pool import ScoringActor, key_for
from app.service.reference import StoredReference, reference_key
from app.store import ReferenceKey, open_store, shared_location
from app.service.scorers import ScoreSpec, stored_scorer_factory
from scoring import ensemble, open_source
from scoring.evaluate import Scorer
from searchspace import get_space

pytestmark = pytest.mark.usefixtures("one_torch_thread")

NAME = "ensemble:naswot+flops"  # cheap members: one NASWOT pass and a cost figure
BATCH = 8
SEED = 3
ARCHS = ["|skip_connect~0|+|nor_conv_3x3~0|none~1|+|none~0|none~1|nor_conv_1x1~2|", get_space("nb201").example]
KEY = ReferenceKey("nb201", "sha256:abc", BATCH, SEED, "exact", 4)
#: values a reference may hold: undefined members (-inf), a subnormal, digits a decimal text would round
AWKWARD = sorted([-math.inf, -1e-310, 0.1, 1 / 3, 2.0**60 + 1, 5e-324])


@pytest.fixture(autouse=True)
def tiny_reference(monkeypatch):
    """A 4-cell reference sample, so a scorer computes it in a moment."""
    monkeypatch.setattr(ensemble, "REFERENCE_SIZE", 4)


@pytest.fixture
def reference_passes(monkeypatch):
    """Counts the architectures scored for a reference sample (the passes that ask for the members alone)."""
    calls = []
    original = Scorer._pass_values

    def counting(self, canonical, params, flops, passes=None):
        if passes is not None:
            calls.append(canonical)
        return original(self, canonical, params, flops, passes)

    monkeypatch.setattr(Scorer, "_pass_values", counting)
    return calls


def spec() -> ScoreSpec:
    return ScoreSpec(get_space("nb201"), open_source("noise"), BATCH, SEED, score=NAME)


def ensemble_values(store) -> list[float]:
    scorer = stored_scorer_factory(store)(spec(), "cpu")
    return [result.values[NAME] for result in scorer.score_many(ARCHS)]


def test_the_mapping_reads_writes_and_forgets_members(store):
    cache = StoredReference(store, KEY)
    cache["flops"] = [3.0, 4.0]
    cache["naswot"] = [1.0]
    assert dict(cache) == {"flops": [3.0, 4.0], "naswot": [1.0]}, "the mapping does not show what was stored"
    del cache["naswot"]
    assert list(cache) == ["flops"] and len(cache) == 1, "a deleted member is still there"
    with pytest.raises(KeyError):
        del cache["naswot"]


def test_a_members_sample_of_an_earlier_definition_is_not_used(store, revise):
    StoredReference(store, KEY)["naswot"] = AWKWARD
    revise("naswot")
    reference = StoredReference(store, KEY)
    assert "naswot" not in reference and list(reference) == [], "a sample stored under naswot's earlier definition is still served"


def test_a_reference_the_database_refused_still_serves_its_scorer(tmp_path):
    locked = open_store(tmp_path / "db.sqlite")
    locked.close()  # every statement now fails with a StoreError
    cache = StoredReference(locked, KEY)
    cache["naswot"] = [1.0, 2.0]
    assert cache["naswot"] == [1.0, 2.0], "a sample the store could not take was lost for its scorer"


def test_a_second_scorer_on_the_same_store_reads_the_reference_instead_of_computing_it(store, reference_passes):
    first = ensemble_values(store)
    computed = len(reference_passes)
    second = ensemble_values(store)
    assert computed == 4, f"the first scorer scored {computed} reference cells, not the 4-cell sample"
    assert len(reference_passes) == computed, "the second scorer recomputed the stored reference sample"
    assert [v.hex() for v in second] == [v.hex() for v in first], "ensemble values from the stored reference differ"


def test_the_reference_survives_reopening_the_sqlite_file(tmp_path, reference_passes):
    path = tmp_path / "db.sqlite"
    first = open_store(path)
    before = ensemble_values(first)
    first.close()
    reopened = open_store(path)
    after = ensemble_values(reopened)
    reopened.close()
    assert len(reference_passes) == 4, "the reference was computed again after the database was reopened"
    assert after == before, "ensemble values changed after the database was reopened"


def test_a_scoring_actor_reads_the_reference_the_service_stored(tmp_path, reference_passes):
    path = tmp_path / "db.sqlite"
    with_store = open_store(path)
    expected = ensemble_values(with_store)
    with_store.close()
    actor = ScoringActor("cpu", None, 2, None, False, store=str(path))
    outcomes = actor.score(key_for(get_space("nb201"), open_source("noise"), BATCH, SEED, scores=(NAME,)), ARCHS)
    assert len(reference_passes) == 4, "the actor recomputed the reference sample the store holds"
    assert [o.values[NAME] for o in outcomes] == expected, "the actor's ensemble values differ from the service's"


@pytest.mark.parametrize("location", [":memory:", "missing/db.sqlite"], ids=["in-memory", "file-on-another-host"])
def test_an_actor_without_the_services_database_keeps_its_reference_itself(tmp_path, monkeypatch, location):
    monkeypatch.chdir(tmp_path)
    actor = ScoringActor("cpu", None, 2, None, False, store=shared_location(location))
    [outcome] = actor.score(key_for(get_space("nb201"), open_source("noise"), BATCH, SEED, scores=(NAME,)), ARCHS[:1])
    assert NAME in outcome.values, f"the actor failed to score without the database: {outcome}"
    assert not (tmp_path / "missing").exists(), "the actor created a database the service does not use"


def test_the_spec_key_names_every_setting_of_the_sample():
    key = spec().reference_key
    assert key == reference_key("nb201", open_source("noise").identity, BATCH, SEED, "exact"), "the spec's reference key differs"
    assert key.size == 4, "the key does not carry the reference sample size scorers are built with"
