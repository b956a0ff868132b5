"""Exact integer allocation of a pool, and the statement lines it makes.

`allocate` splits an amount in minor units in proportion to integer weights by the largest-remainder
(Hamilton) method: each party gets the floor of its exact share, and the units left over go one each to
the largest remainders, ties broken by the party's id. The parts sum to the amount exactly, are never
negative, and do not depend on the order the weights are given in. A pool's weights are integers too:
parts per billion of each check's attribution shares (basis `checks`), or one per included work (basis
`training_run`), so that an auditor recomputing them from the record gets the same numbers on any machine.
"""

from collections.abc import Mapping

from registry.models import Pool, StatementItem, StatementLine

METHOD = "largest-remainder/1"
SHARE_SCALE = 1_000_000_000  # a check's attribution shares, as integer parts per billion


def allocate(amount: int, weights: Mapping[str, int]) -> dict[str, int]:
    """`amount` split in proportion to `weights` (non-negative integers); {} when every weight is 0."""
    if amount < 0 or any(w < 0 for w in weights.values()):
        raise ValueError("amounts and weights are never negative")
    total = sum(weights.values())
    if total == 0:
        return {}
    parts = {k: amount * w // total for k, w in weights.items()}
    left = amount - sum(parts.values())
    by_remainder = sorted(weights, key=lambda k: (-(amount * weights[k] % total), k))
    for k in by_remainder[:left]:
        parts[k] += 1
    return parts


def statement(pool: Pool, weights: Mapping[str, int], items: Mapping[str, list[StatementItem]],
              carried_in: Mapping[str, int]) -> list[StatementLine]:
    """The lines of a closing pool: each creator's allocation plus what earlier pools carried over; a total
    under the pool's minimum payout is carried to the next statement instead of paid (never lost)."""
    allocated = allocate(pool.amount.amount_minor, weights)
    lines = []
    for creator in sorted(set(allocated) | {c for c, v in carried_in.items() if v}):
        got, carried = allocated.get(creator, 0), carried_in.get(creator, 0)
        total = got + carried
        paid = total if total >= pool.min_payout_minor and total > 0 else 0
        lines.append(StatementLine(pool_id=pool.id, creator_id=creator, currency=pool.amount.currency,
                                   weight=weights.get(creator, 0), allocated_minor=got, carried_in_minor=carried,
                                   paid_minor=paid, carried_out_minor=total - paid,
                                   items=sorted(items.get(creator, []),
                                                key=lambda i: (i.check_id or "", i.work_id))))
    return lines
