"""The synthetic fighting game, simulated for a batch of games at once (numpy, no torch).

Two players on a stage of half-width STAGE. Each frame: record the state, move (ground
speed from the action, gravity in the air, a jump impulse on an action's first frame),
land, resolve hits (an attack connects on its hit frame if the opponent is in reach and not
dodging; a shield blocks; a parry punishes), knock out players past the blast zone, then
advance action timers. When an action ends (or a hold action such as walking is
interrupted by a change of distance band or a new threat) the policy picks the next one:
linear logits over the features in `actions.FEATURES`, plus uniform noise, argmax.

Randomness is counter-based (splitmix64 of seed, game, frame, player, slot) and the
arithmetic is elementwise IEEE (+, -, *, /, comparisons), so a game's frames depend only
on (seed, game, frames): never on which other games share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainward.train.actions import ACTIONS, CATEGORIES, FEATURES, INDEX, NUM_ACTIONS

STAGE, CLOSE, FAR, HURT = 80.0, 14.0, 45.0, 60.0
GRAVITY, SPAWN_X, NOISE = 0.25, 40.0, 3.0
BLAST_X, BLAST_BOTTOM, BLAST_TOP = 170.0, -90.0, 200.0
SLOTS = NUM_ACTIONS + 1  # policy noise per action, then the duration draw
GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1, M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)

FRAME_DTYPE = np.dtype(
    [
        ("pos", "<f4", (2, 2)),
        ("vel", "<f4", (2, 2)),
        ("damage", "<f4", (2,)),
        ("action_frame", "<i2", (2,)),
        ("action", "<i2", (2,)),
    ]
)

# -- the action table as arrays ------------------------------------------------------------------
FRAMES = np.array([a.frames for a in ACTIONS], dtype=np.int64)
JITTER = np.array([a.jitter for a in ACTIONS], dtype=np.int64)
AIR = np.array([-1 if a.air is None else int(a.air) for a in ACTIONS], dtype=np.int64)
VX = np.array([a.vx for a in ACTIONS])
JUMP = np.array([a.jump for a in ACTIONS])
DAMAGE = np.array([a.damage for a in ACTIONS])
REACH = np.array([a.reach for a in ACTIONS])
HIT_FRAME = np.array([a.hit_frame for a in ACTIONS], dtype=np.int64)
CATEGORY = np.array([CATEGORIES.index(a.category) for a in ACTIONS], dtype=np.int64)
WEIGHTS = np.array([[a.weights.get(f, 0.0) for f in FEATURES] for a in ACTIONS])  # [A, F]
IS_ATTACK = DAMAGE > 0
HOLD = JITTER > 0
AIRBORNE_END = np.isin(CATEGORY, [CATEGORIES.index("aerial"), CATEGORIES.index("recovery")])
DODGES = np.isin(
    np.arange(NUM_ACTIONS),
    [
        INDEX[n]
        for n in (
            "roll_l",
            "roll_r",
            "spotdodge",
            "airdodge",
            "respawn",
            "ledgegrab",
            "knockdown",
            "getup",
        )
    ],
)
HELPLESS = np.isin(
    np.arange(NUM_ACTIONS), [INDEX[n] for n in ("hitstun", "tumble", "knockdown", "land")]
)
FROZEN = np.isin(np.arange(NUM_ACTIONS), [INDEX[n] for n in ("ledgegrab", "respawn")])
ID = INDEX


def _mix(z: np.ndarray) -> np.ndarray:
    """The splitmix64 finalizer, elementwise on uint64 (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * M1
    z = (z ^ (z >> np.uint64(27))) * M2
    return z ^ (z >> np.uint64(31))


def game_keys(seed: int, games: np.ndarray) -> np.ndarray:
    base = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64) + GOLDEN)
    return _mix(base ^ (games.astype(np.uint64) * GOLDEN))


def uniforms(keys: np.ndarray, frame: int) -> np.ndarray:
    """Uniform [0, 1) draws, [B, 2, SLOTS], for one frame of each game."""
    counter = np.arange(2 * SLOTS, dtype=np.uint64) + np.uint64(frame * 2 * SLOTS + 1)
    z = _mix(keys[:, None] + counter[None, :] * GOLDEN)
    return ((z >> np.uint64(11)).astype(np.float64) * 2.0**-53).reshape(-1, 2, SLOTS)


@dataclass
class State:
    x: np.ndarray  # [B, 2] float64
    y: np.ndarray
    vx: np.ndarray
    vy: np.ndarray
    dmg: np.ndarray
    act: np.ndarray  # [B, 2] int64
    timer: np.ndarray  # frames left in the action
    age: np.ndarray  # frames since the action began

    @classmethod
    def start(cls, batch: int) -> State:
        zeros = np.zeros((batch, 2))
        act = np.full((batch, 2), ID["idle"], dtype=np.int64)
        return cls(np.tile([-SPAWN_X, SPAWN_X], (batch, 1)), zeros.copy(), zeros.copy(), zeros.copy(),
                   zeros.copy(), act, np.full((batch, 2), 6, dtype=np.int64), np.zeros((batch, 2), dtype=np.int64))  # fmt: skip

    def airborne(self) -> np.ndarray:
        return (self.y > 0) | (np.abs(self.x) > STAGE)

    def band(self) -> np.ndarray:
        dist = np.abs(self.x[:, ::-1] - self.x)
        return (dist >= CLOSE).astype(np.int64) + (dist >= FAR)

    def begin(self, mask: np.ndarray, action: int | np.ndarray, frames: int | np.ndarray) -> None:
        """Start `action` (lasting `frames`) for the players in `mask`."""
        self.act = np.where(mask, action, self.act)
        self.timer = np.where(mask, frames, self.timer)
        self.age = np.where(mask, 0, self.age)


def move(s: State) -> np.ndarray:
    """Advance positions one frame; returns the mask of players who landed."""
    a = s.act
    prev_y = s.y
    air = s.airborne()
    s.vy = np.where((s.age == 0) & (JUMP[a] > 0), JUMP[a], s.vy)
    center = np.where(s.x >= 0, -1.0, 1.0)
    recovering = (CATEGORY[a] == CATEGORIES.index("recovery")) & (VX[a] > 0)
    ground_vx = np.where(VX[a] != 0, VX[a], np.where(a == ID["hitstun"], s.vx * 0.9, s.vx * 0.7))
    s.vx = np.where(recovering, center * VX[a], np.where(air, s.vx * 0.98, ground_vx))
    s.vy = np.where(air | (s.vy > 0), s.vy - GRAVITY, 0.0)
    frozen = FROZEN[a]
    s.vx, s.vy = np.where(frozen, 0.0, s.vx), np.where(frozen, 0.0, s.vy)
    s.x, s.y = s.x + s.vx, s.y + s.vy
    over = np.abs(s.x) <= STAGE
    landed = (s.y <= 0) & (prev_y > 0) & over
    wall = (s.y < 0) & (prev_y <= 0) & over & ~landed & ~frozen
    s.y = np.where(landed, 0.0, s.y)
    s.vy = np.where(landed, 0.0, s.vy)
    s.x = np.where(wall, np.where(s.x >= 0, STAGE + 0.5, -STAGE - 0.5), s.x)
    s.vx = np.where(wall, 0.0, s.vx)
    return landed


Transition = tuple[np.ndarray, int, "int | np.ndarray"]  # (who, action, frames)


def resolve_hits(s: State) -> list[Transition]:
    """Attacks on their hit frame connect, are blocked, parried or dodged.

    Applies damage and knockback now; returns the actions the hits force (throw, shieldstun,
    hitstun), which begin once this frame's timers have advanced.
    """
    a, opp = s.act, s.act[:, ::-1]
    dx, dy = s.x[:, ::-1] - s.x, s.y[:, ::-1] - s.y
    connects = (
        IS_ATTACK[a] & (s.age == HIT_FRAME[a]) & (np.abs(dx) <= REACH[a]) & (np.abs(dy) <= 14)
    )
    lands = connects & ~DODGES[opp] & (opp != ID["shield"]) & (opp != ID["parry"])
    blocked = (connects & (opp == ID["shield"]))[:, ::-1]
    parried = connects & (opp == ID["parry"])
    hit = lands[:, ::-1]  # indexed by the defender
    damage = DAMAGE[a][:, ::-1]
    dmg = s.dmg + np.where(hit, damage, 0.0)
    kb = 1.0 + damage * (0.3 + dmg / 100.0) * 0.18
    away = np.where(s.x >= s.x[:, ::-1], 1.0, -1.0)
    s.dmg = dmg
    s.vx = np.where(hit, away * kb * 0.8, np.where(parried, 0.0, s.vx))
    launch = hit & (kb > 2.5)
    s.vy = np.where(launch, kb * 0.6 + 1.0, s.vy)
    s.y = np.where(launch, np.maximum(s.y, 0.5), s.y)
    return [
        (lands & (a == ID["grab"]), ID["throw"], FRAMES[ID["throw"]]),
        (blocked, ID["shieldstun"], FRAMES[ID["shieldstun"]]),
        (parried, ID["hitstun"], 14),
        (hit, ID["hitstun"], np.round(4.0 + kb * 2.0).astype(np.int64)),
    ]


def knock_out(s: State) -> None:
    out = (np.abs(s.x) > BLAST_X) | (s.y < BLAST_BOTTOM) | (s.y > BLAST_TOP)
    s.x = np.where(out, np.array([-SPAWN_X, SPAWN_X]), s.x)
    for name in ("y", "vx", "vy", "dmg"):
        setattr(s, name, np.where(out, 0.0, getattr(s, name)))
    s.begin(out, ID["respawn"], FRAMES[ID["respawn"]])


def features(s: State) -> np.ndarray:
    """The policy's inputs [B, 2, F], in the order of FEATURES."""
    band, opp = s.band(), s.act[:, ::-1]
    air = s.airborne()
    side = np.where(s.x[:, ::-1] >= s.x, 1.0, -1.0)
    cols = [np.ones_like(s.x), band == 0, band == 1, band == 2, air, np.abs(s.x) > STAGE, s.dmg > HURT,
            IS_ATTACK[opp] & (band < 2), HELPLESS[opp], side, side * (band == 1), side * (band == 2),
            air[:, ::-1], s.y < -2]  # fmt: skip
    return np.stack([np.asarray(c, dtype=np.float64) for c in cols], axis=-1)


def choose(s: State, need: np.ndarray, u: np.ndarray) -> None:
    """Pick the next action for the players in `need` (linear policy + uniform noise)."""
    logits = features(s) @ WEIGHTS.T + NOISE * u[..., :NUM_ACTIONS]
    air = s.airborne()[..., None]
    valid = np.where(air, AIR == 1, AIR == 0)
    pick = np.where(valid, logits, -np.inf).argmax(axis=-1)
    frames = FRAMES[pick] + np.floor(u[..., NUM_ACTIONS] * (JITTER[pick] + 1)).astype(np.int64)
    s.begin(need, pick, frames)


def advance(
    s: State, landed: np.ndarray, band_before: np.ndarray, u: np.ndarray, hits: list[Transition]
) -> None:
    """Timers, forced transitions, interrupts, then the policy for whoever needs an action."""
    s.age, s.timer = s.age + 1, s.timer - 1
    for who, action, frames in hits:
        s.begin(who, action, frames)
    knock_out(s)
    a, air = s.act, s.airborne()
    s.begin(landed & AIRBORNE_END[a], ID["land"], FRAMES[ID["land"]])
    s.begin(landed & (a == ID["tumble"]), ID["knockdown"], FRAMES[ID["knockdown"]])
    ended = s.timer <= 0
    s.begin(ended & (s.act == ID["hitstun"]) & air, ID["tumble"], 10_000)
    s.begin(ended & (s.act == ID["knockdown"]), ID["getup"], FRAMES[ID["getup"]])
    climb = ended & (s.act == ID["ledgegrab"])
    s.x = np.where(climb, np.where(s.x >= 0, STAGE - 6.0, 6.0 - STAGE), s.x)
    s.y = np.where(climb, 0.0, s.y)
    ledge = (
        (np.abs(s.x) > STAGE) & (np.abs(s.x) < STAGE + 12) & (s.y < 0) & (s.y > -24) & (s.vy < 0)
    )
    s.begin(ledge & ~HELPLESS[s.act] & ~FROZEN[s.act], ID["ledgegrab"], FRAMES[ID["ledgegrab"]])
    s.y = np.where(ledge & (s.act == ID["ledgegrab"]) & (s.age == 0), -4.0, s.y)
    opp = s.act[:, ::-1]
    threat = (s.age[:, ::-1] == 0) & IS_ATTACK[opp] & (s.band() < 2)
    interrupt = HOLD[s.act] & ((s.band() != band_before) | threat)
    wrong_place = ((AIR[s.act] == 0) & s.airborne()) | ((AIR[s.act] == 1) & ~s.airborne())
    choose(s, (s.timer <= 0) | interrupt | wrong_place, u)


def record(s: State, out: np.ndarray, t: int) -> None:
    out["pos"][:, t, :, 0], out["pos"][:, t, :, 1] = s.x, s.y
    out["vel"][:, t, :, 0], out["vel"][:, t, :, 1] = s.vx, s.vy
    out["damage"][:, t] = s.dmg
    out["action_frame"][:, t] = np.minimum(s.age, 32767)
    out["action"][:, t] = s.act


def simulate(seed: int, games: np.ndarray, frames: int) -> np.ndarray:
    """Frames of each game in `games` (indices): a structured array [len(games), frames]."""
    keys = game_keys(seed, np.asarray(games))
    s = State.start(len(keys))
    out = np.zeros((len(keys), frames), dtype=FRAME_DTYPE)
    for t in range(frames):
        u = uniforms(keys, t)
        record(s, out, t)
        band_before = s.band()
        landed = move(s)
        advance(s, landed, band_before, u, resolve_hits(s))
    return out
