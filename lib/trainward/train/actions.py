"""The action catalog of the synthetic fighting game: 40 actions in 6 categories.

Each action has a duration, the motion it causes, what it does when it hits, and the
weights of the policy that picks it. The policy is linear in a few state features (see
`FEATURES`), so a model that sees the state can learn which action comes next; actions
with `air=None` are never picked by the policy: the game forces them (landing, being hit,
being thrown, respawning). Pure Python: no numpy, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CATEGORIES = ("movement", "attack", "defense", "aerial", "recovery", "hitstun")

#: The policy's inputs, from one player's point of view.
FEATURES = (
    "bias",      # 1
    "close",     # |dx| < CLOSE
    "mid",       # CLOSE <= |dx| < FAR
    "far",       # |dx| >= FAR
    "air",       # airborne
    "offstage",  # beyond the stage edge
    "hurt",      # damage above HURT
    "threat",    # the opponent is attacking and not far
    "opening",   # the opponent is helpless (hitstun, knockdown, landing)
    "dir",       # +1 if the opponent is to the right, -1 if to the left
    "dir_mid",   # dir at mid distance, else 0
    "dir_far",   # dir at far distance, else 0
    "opp_air",   # the opponent is airborne
    "below",     # under the stage's level
)  # fmt: skip


@dataclass(frozen=True)
class Action:
    name: str
    category: str
    frames: int  # duration; hold actions last frames + a draw in [0, jitter]
    jitter: int = 0
    air: bool | None = False  # False: grounded only; True: airborne only; None: forced only
    vx: float = 0.0  # horizontal speed while it runs (ground) or push toward the stage (recovery)
    jump: float = 0.0  # vertical speed set on its first frame
    damage: float = 0.0  # attacks: damage dealt on the hit frame
    reach: float = 0.0
    hit_frame: int = 0
    weights: dict[str, float] = field(default_factory=dict)

    @property
    def is_attack(self) -> bool:
        return self.damage > 0


def _a(name: str, category: str, frames: int, **kw: object) -> Action:
    return Action(name, category, frames, **kw)  # type: ignore[arg-type]


ACTIONS: tuple[Action, ...] = (
    # movement
    _a("idle", "movement", 6, jitter=18, weights={"bias": 1.0, "hurt": 0.5}),
    _a("walk_l", "movement", 8, jitter=12, vx=-1.0, weights={"mid": 1.0, "dir_mid": -3.0}),
    _a("walk_r", "movement", 8, jitter=12, vx=1.0, weights={"mid": 1.0, "dir_mid": 3.0}),
    _a("dash_l", "movement", 10, jitter=6, vx=-2.4, weights={"far": 1.5, "dir_far": -3.5}),
    _a("dash_r", "movement", 10, jitter=6, vx=2.4, weights={"far": 1.5, "dir_far": 3.5}),
    _a("crouch", "movement", 6, jitter=10, weights={"close": 0.5, "threat": 0.5}),
    _a("taunt", "movement", 30, weights={"bias": -3.0, "far": 1.5, "opening": 1.0}),
    _a("land", "movement", 4, air=None),
    # attack
    _a("jab", "attack", 8, damage=3, reach=12, hit_frame=3, weights={"close": 3.0, "opening": 1.0}),
    _a("ftilt", "attack", 12, damage=8, reach=16, hit_frame=5, weights={"close": 2.5, "mid": 0.5}),
    _a(
        "utilt",
        "attack",
        11,
        damage=7,
        reach=10,
        hit_frame=5,
        weights={"close": 1.5, "opp_air": 2.5},
    ),
    _a("dtilt", "attack", 10, damage=6, reach=14, hit_frame=4, weights={"close": 2.0}),
    _a(
        "fsmash",
        "attack",
        24,
        damage=16,
        reach=18,
        hit_frame=12,
        weights={"close": 1.5, "opening": 1.5},
    ),
    _a(
        "usmash",
        "attack",
        22,
        damage=14,
        reach=10,
        hit_frame=10,
        weights={"opp_air": 2.0, "opening": 1.5},
    ),
    _a(
        "dsmash",
        "attack",
        22,
        damage=13,
        reach=14,
        hit_frame=9,
        weights={"close": 1.0, "opening": 2.0},
    ),
    _a(
        "grab", "attack", 10, damage=9, reach=8, hit_frame=4, weights={"close": 2.0, "threat": -1.0}
    ),
    _a("throw", "attack", 14, air=None),
    # defense
    _a("shield", "defense", 8, jitter=16, weights={"threat": 3.5, "hurt": 1.0}),
    _a("roll_l", "defense", 16, vx=-1.8, weights={"threat": 1.5, "dir": 1.5}),
    _a("roll_r", "defense", 16, vx=1.8, weights={"threat": 1.5, "dir": -1.5}),
    _a("spotdodge", "defense", 14, weights={"threat": 2.0}),
    _a("parry", "defense", 6, weights={"threat": 1.5, "hurt": -0.5}),
    _a("shieldstun", "defense", 6, air=None),
    # aerial
    _a("jump", "aerial", 5, jump=4.2, weights={"mid": 1.0, "opp_air": 2.0, "threat": 1.0}),
    _a(
        "doublejump",
        "aerial",
        6,
        air=True,
        jump=3.6,
        weights={"below": 4.0, "offstage": 1.0, "opp_air": 0.5},
    ),
    _a("fall", "aerial", 8, jitter=12, air=True, weights={"bias": 1.0}),
    _a("nair", "aerial", 14, air=True, damage=8, reach=12, hit_frame=4, weights={"close": 2.0}),
    _a(
        "fair",
        "aerial",
        16,
        air=True,
        damage=10,
        reach=14,
        hit_frame=6,
        weights={"close": 1.5, "mid": 1.0},
    ),
    _a("bair", "aerial", 14, air=True, damage=11, reach=14, hit_frame=5, weights={"close": 1.5}),
    _a(
        "uair",
        "aerial",
        12,
        air=True,
        damage=9,
        reach=12,
        hit_frame=4,
        weights={"opp_air": 2.0, "close": 1.0},
    ),
    _a(
        "dair",
        "aerial",
        18,
        air=True,
        damage=12,
        reach=10,
        hit_frame=8,
        weights={"close": 1.0, "below": -2.0},
    ),
    _a("airdodge", "aerial", 12, air=True, weights={"threat": 2.0}),
    # recovery
    _a("upb", "recovery", 26, air=True, vx=1.2, jump=6.5, weights={"offstage": 4.0, "below": 3.0}),
    _a("sideb", "recovery", 14, air=True, vx=2.5, weights={"offstage": 3.0}),
    _a("ledgegrab", "recovery", 20, air=None),
    _a("respawn", "recovery", 40, air=None),
    # hitstun
    _a("hitstun", "hitstun", 10, air=None),
    _a("tumble", "hitstun", 1, air=None),
    _a("knockdown", "hitstun", 14, air=None),
    _a("getup", "hitstun", 12, air=None),
)

NAMES = tuple(a.name for a in ACTIONS)
INDEX = {a.name: i for i, a in enumerate(ACTIONS)}
NUM_ACTIONS = len(ACTIONS)


def category_of(action_id: int) -> str:
    return ACTIONS[action_id].category


def category_ids() -> list[int]:
    """For each action id, the index of its category in CATEGORIES."""
    return [CATEGORIES.index(a.category) for a in ACTIONS]
