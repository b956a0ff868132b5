"""Two registries over one database (two replicas, or a server and the command line): the change feed
brings each one's in-memory indexes in line with what the other enrolled and withdrew."""

from pathlib import Path

from api.settings import Settings
from registry.models import Role
from service.registry import Registry
from service.wiring import open_registry
from tests.conftest import FIXTURES


def test_enrollments_and_withdrawals_reach_the_other_registry(tmp_path: Path) -> None:
    def replica(index: str) -> Registry:
        return open_registry(Settings.load(data_dir=tmp_path / "data", index_dir=tmp_path / index,
                                           image_embedder="none").service)

    a, b = replica("a"), replica("b")
    owner = a.ensure_account("alice", Role.CREATOR)
    operator = b.ensure_account("op", Role.OPERATOR)
    text = (FIXTURES / "texts" / "emma-ch001.txt").read_bytes()
    image = (FIXTURES / "images" / "coffee.jpg").read_bytes()
    works = [a.enroll(owner, text, filename="emma.txt"), a.enroll(owner, image, filename="coffee.jpg")]
    assert b.check(operator, text).matches == []  # not applied yet
    assert b.indexes.apply_changes() == 2
    assert [m.work_id for m in b.check(operator, text).matches] == [works[0].id]
    assert [m.work_id for m in b.check(operator, image).matches] == [works[1].id]
    a.withdraw(owner, works[0].id)
    assert b.indexes.apply_changes() == 1
    assert b.check(operator, text).matches == []
    assert b.indexes.apply_changes() == 0
    a.close()
    b.close()
