"""Seeded synthetic Sparkify data: song metadata and one day of song-play event logs, as JSON lines.

The same seed and day always give the same files (no downloaded data sets)::

    python examples/sparkify/generate.py --bucket sparkify-data 2024-03-01 2024-03-02 2024-03-03

writes, through the ``AWS_*`` / ``AWS_ENDPOINT_URL`` environment (e.g. a running sandbox):

- ``song_data/songs.json``: one song per line (``song_id``, ``title``, ``artist_id``, ``artist_name``,
  ``artist_location``, ``artist_latitude``, ``artist_longitude``, ``year``, ``duration``);
- ``log_data/<day>/events.json``: the day's events, as Sparkify's app logs them (``userId`` is ``""`` for
  a logged-out visitor; ``ts`` is epoch milliseconds; only ``page == "NextSong"`` is a song play);
- ``meta/events_jsonpaths.json``: the jsonpaths file for ``staging_events``.
"""

from __future__ import annotations

import argparse
import json
import random
from datetime import datetime, timezone
from typing import Any

#: staging_events columns, in table order, and the event field each comes from.
EVENT_COLUMNS = (
    ("artist", "artist"),
    ("auth", "auth"),
    ("first_name", "firstName"),
    ("gender", "gender"),
    ("item_in_session", "itemInSession"),
    ("last_name", "lastName"),
    ("length", "length"),
    ("level", "level"),
    ("location", "location"),
    ("method", "method"),
    ("page", "page"),
    ("registration", "registration"),
    ("session_id", "sessionId"),
    ("song", "song"),
    ("status", "status"),
    ("ts", "ts"),
    ("user_agent", "userAgent"),
    ("user_id", "userId"),
)
FIRST_NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun")
LAST_NAMES = ("Abe", "Berg", "Cruz", "Dahl", "Egan", "Ford", "Gray", "Holt", "Ito", "Jax")
CITIES = ("Lisbon", "Austin, TX", "Osaka", "Nairobi", "Oslo")
WORDS = ("Blue", "Night", "River", "Gold", "Echo", "Paper", "Storm", "Velvet", "Neon", "Stone")


def songs(seed: int = 7, count: int = 12, artists: int = 5) -> list[dict[str, Any]]:
    """``count`` songs by ``artists`` artists."""
    rng = random.Random(f"songs-{seed}")
    artist_rows = [
        {
            "artist_id": f"AR{index:05d}",
            "artist_name": f"The {rng.choice(WORDS)} {rng.choice(WORDS)}s",
            "artist_location": rng.choice(CITIES),
            "artist_latitude": round(rng.uniform(-60, 60), 4),
            "artist_longitude": round(rng.uniform(-150, 150), 4),
        }
        for index in range(1, artists + 1)
    ]
    return [
        {
            "song_id": f"SO{index:05d}",
            "title": f"{rng.choice(WORDS)} {rng.choice(WORDS)} {index}",
            **artist_rows[index % artists],
            "year": rng.randint(1990, 2023),
            "duration": round(rng.uniform(120, 360), 5),
        }
        for index in range(1, count + 1)
    ]


def events(day: str, song_rows: list[dict[str, Any]], seed: int = 7, count: int = 40) -> list[dict[str, Any]]:
    """One day of app events: song plays by 8 users (levels change), page views, an unknown song."""
    rng = random.Random(f"events-{seed}-{day}")
    start = int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp() * 1000)
    rows = []
    for item in range(count):
        user = rng.randint(1, 8)
        page = rng.choices(("NextSong", "Home", "Logout"), weights=(8, 1, 1))[0]
        logged_out = page == "Home" and rng.random() < 0.5
        song = rng.choice(song_rows) if page == "NextSong" else None
        unknown = song is not None and rng.random() < 0.1  # a play of a song not in the metadata
        rows.append(
            {
                "artist": ("Unknown Band" if unknown else song["artist_name"]) if song else None,
                "auth": "Logged Out" if logged_out else "Logged In",
                "firstName": None if logged_out else FIRST_NAMES[user - 1],
                "gender": None if logged_out else "FM"[user % 2],
                "itemInSession": item,
                "lastName": None if logged_out else LAST_NAMES[user - 1],
                "length": (round(rng.uniform(100, 300), 5) if unknown else song["duration"])
                if song
                else None,
                "level": None if logged_out else rng.choice(("free", "paid")),
                "location": None if logged_out else CITIES[user % len(CITIES)],
                "method": "PUT" if page == "NextSong" else "GET",
                "page": page,
                "registration": None if logged_out else 1_540_000_000_000 + user,
                "sessionId": 100 + user,
                "song": (f"Lost Track {item}" if unknown else song["title"]) if song else None,
                "status": 200,
                "ts": start + item * 60_000 + rng.randint(0, 59_999),  # one event a minute, all in the day
                "userAgent": "Mozilla/5.0",
                "userId": "" if logged_out else str(user),
            }
        )
    return rows


def jsonpaths() -> dict[str, list[str]]:
    return {"jsonpaths": [f"$.{field}" for _column, field in EVENT_COLUMNS]}


def json_lines(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def upload(s3: Any, bucket: str, days: list[str], seed: int = 7) -> None:
    """Write the songs, the jsonpaths file and each day's events to ``bucket``."""
    song_rows = songs(seed)
    s3.put_object(Bucket=bucket, Key="song_data/songs.json", Body=json_lines(song_rows))
    s3.put_object(Bucket=bucket, Key="meta/events_jsonpaths.json", Body=json.dumps(jsonpaths()).encode())
    for day in days:
        body = json_lines(events(day, song_rows, seed))
        s3.put_object(Bucket=bucket, Key=f"log_data/{day}/events.json", Body=body)


def main(argv: list[str] | None = None) -> None:
    import boto3

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bucket", default="sparkify-data")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("days", nargs="+", help="YYYY-MM-DD")
    args = parser.parse_args(argv)
    upload(boto3.client("s3"), args.bucket, args.days, args.seed)


if __name__ == "__main__":
    main()
