"""The networked sources (Reddit through PRAW, blogs through RSS/feedparser) against recorded responses served
locally, then through seeding: posts are stored, linked to venues and weighed by the overrated detector."""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from shared.domains.travel.catalogue.cities import City
from shared.domains.travel.catalogue.sources.reddit import RedditSource
from shared.domains.travel.catalogue.sources.rss import RssSource

RECORDED = Path(__file__).with_name("recorded")
SEATTLE = City("seattle", "Seattle", {"wikivoyage": ("Seattle",)})


class Recorded:
    """Serves the recorded bodies and remembers what was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _route(self, method: str) -> None:
                length = int(self.headers.get("content-length") or 0)
                form = parse_qs(self.rfile.read(length).decode()) if length else {}
                url = urlparse(self.path)
                fake.requests.append((method, url.path, {**parse_qs(url.query), **form}))
                if url.path == "/api/v1/access_token":
                    self._send(200, (RECORDED / "reddit_token.json").read_bytes(), "application/json")
                elif url.path.rstrip("/") == "/r/Seattle/search":
                    self._send(200, (RECORDED / "reddit_search_seattle.json").read_bytes(), "application/json")
                elif url.path == "/feed.xml":
                    self._send(200, (RECORDED / "blog_feed.xml").read_bytes(), "application/rss+xml")
                else:
                    self._send(404, b'{"message": "Not Found", "error": 404}', "application/json")

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorded():
    server = Recorded()
    yield server
    server.stop()


def reddit_source(recorded: Recorded, monkeypatch) -> RedditSource:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "recorded-id")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "recorded-secret")
    monkeypatch.setenv("PRAW_ALLOW_ENDPOINT_OVERRIDE", "1")
    return RedditSource(Path("."), oauth_url=recorded.url, reddit_url=recorded.url, per_query=5)


def test_reddit_through_praw(recorded, monkeypatch):
    assert "no Reddit credentials" in RedditSource(Path(".")).available()
    posts = list(reddit_source(recorded, monkeypatch).read(SEATTLE))
    # five searches return the same three submissions: each kept once
    assert [p.external_id for p in posts] == ["t3_1a2b3c", "t3_4d5e6f", "t3_7g8h9i"]
    first = posts[0]
    assert first.channel == "r/Seattle" and first.score == 412 and "overrated" in first.text
    assert first.url == "https://www.reddit.com/r/Seattle/comments/1a2b3c/is_the_space_needle_worth_it/"
    token = recorded.requests[0]
    assert token[1] == "/api/v1/access_token" and token[2]["grant_type"] == ["client_credentials"]
    searches = [r for r in recorded.requests if r[1].rstrip("/") == "/r/Seattle/search"]
    assert len(searches) == 5 and {q[2]["q"][0] for q in searches} >= {"tourist trap", "overrated"}


def test_blogs_through_rss(recorded):
    source = RssSource(Path("."), feeds={"seattle": [f"{recorded.url}/feed.xml"]})
    posts = list(source.read(SEATTLE))
    assert [p.external_id for p in posts] == ["blog-0001", "blog-0002"]
    assert posts[0].channel == "Neighbourhood Eats (test feed)" and posts[0].author == "A. Writer"
    assert posts[0].text == "The crowds at Pike Place Market are a tourist trap in July. Walk two blocks to Le Pichet instead & thank us later."
    assert posts[1].text == "Still the best free view of the skyline." and posts[1].created_utc == 1700067600.0
    assert "no feeds configured" in RssSource(Path("/nonexistent")).available()


def test_scraped_posts_feed_seeding(recorded, monkeypatch, pg_dsn, qdrant_path, encoder_ready, tmp_path):
    """Posts from both networked sources are stored in scraped_posts, linked to the venues they mention, and the
    local 'overrated' verdict shows up in the node's overrated evidence."""
    import shutil

    from shared.domains.travel.catalogue.pipeline import seed_city
    from tests.integration.catalogue.conftest import DEMO_DATA, reset_city, run, with_pool

    import csv

    # A small slice of the extract keeps the test fast: the venues the recorded posts talk about, and a few others.
    names = {"Space Needle", "Pike Place Market", "Kerry Park", "Vera's", "Gas Works Park", "Gasworks Park",
             "Le Pichet", "Prost!"}
    data = tmp_path / "data"
    shutil.copytree(DEMO_DATA, data)
    listings = data / "venues" / "wikivoyage-2014" / "listings.csv"
    with open(listings, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows, fields = [r for r in reader if r["name"] in names], reader.fieldnames
    with open(listings, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (data / "posts").mkdir()
    (data / "posts" / "feeds.yaml").write_text(f"seattle:\n  - {recorded.url}/feed.xml\n")
    reddit = reddit_source(recorded, monkeypatch)
    run(reset_city("seattle"))

    async def go(pool):
        summary = await seed_city("seattle", sources="wikivoyage,travelplanner,reddit,rss", data_dir=data,
                                  pool=pool, tagger="offline", source_kwargs={"reddit": {"reddit": reddit.client()}})
        posts = await pool.fetch("SELECT source, external_id, activity_node_id, local_score, tourist_flag "
                                 "FROM scraped_posts WHERE city_id = 'seattle' ORDER BY external_id")
        nodes = await pool.fetch("SELECT id, name, quality_signals FROM activity_nodes WHERE city_id = 'seattle'")
        return summary, posts, nodes

    summary, posts, nodes = run(with_pool(go))
    assert summary.sources["reddit"] == {"records": 3, "posts": 3} and summary.sources["rss"]["records"] == 2
    by_name = {n["name"]: n for n in nodes}
    by_post = {p["external_id"]: p for p in posts}
    assert by_post["t3_1a2b3c"]["activity_node_id"] == by_name["Space Needle"]["id"]
    assert by_post["t3_7g8h9i"]["tourist_flag"] is True and by_post["t3_1a2b3c"]["tourist_flag"] is False
    assert by_post["blog-0001"]["activity_node_id"] == by_name["Pike Place Market"]["id"]
    needle = by_name["Space Needle"]["quality_signals"]["overrated"]
    assert any(e["what"] == "local post: 'overrated'" and e["id"] == "t3_1a2b3c" for e in needle["evidence"]["criticism"])
    market = by_name["Pike Place Market"]["quality_signals"]["overrated"]
    assert any(e["what"] == "local post: 'tourist trap'" for e in market["evidence"]["criticism"])
