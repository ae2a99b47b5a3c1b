"""SciFact as BEIR ships it (corpus.jsonl, queries.jsonl, qrels/{train,test}.tsv), plus a validation split.

Why a validation split carved from train: SciFact has no dev qrels in BEIR, and tuning on the test queries would
make the test figures optimistic. The split is a pure function of the query ids (the smallest SHA-256 hashes of
"seed:qid"), so it does not depend on numpy's RNG or on file order, and every tool (trainer, study, bench) gets
the same queries without passing files around.
"""
from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

Qrels = dict[str, dict[str, int]]  # query id -> {doc id: graded relevance}

DATASET_PARTS = ("retrieval", "scifact")
VALIDATION_SHARE = 0.2
VALIDATION_SEED = 0


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str

    @property
    def full_text(self) -> str:
        """Title and body joined by a space, as BEIR's SentenceBERT and BM25 baselines index a document."""
        return f"{self.title} {self.text}".strip()


@dataclass
class Collection:
    """One retrieval collection: documents in file order, queries by id, and qrels per split."""

    documents: list[Document]
    queries: dict[str, str]
    qrels: dict[str, Qrels] = field(default_factory=dict)

    @property
    def doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.documents]

    def doc_texts(self) -> list[str]:
        return [d.full_text for d in self.documents]

    def split(self, name: str) -> Qrels:
        """Qrels of a split: 'train', 'test', or the derived 'train-fit' / 'validation' pair."""
        if name in self.qrels:
            return self.qrels[name]
        if name in ("train-fit", "validation"):
            fit, val = validation_split(self.qrels["train"])
            self.qrels["train-fit"], self.qrels["validation"] = fit, val
            return self.qrels[name]
        raise KeyError(f"unknown split {name!r}; have {sorted(self.qrels)} plus train-fit and validation")


def default_dir() -> Path:
    from shared.settings import get_settings

    return get_settings().data_dir.joinpath(*DATASET_PARTS)


def load_documents(path: Path) -> list[Document]:
    docs = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                docs.append(Document(str(row["_id"]), row.get("title") or "", row.get("text") or ""))
    return docs


def load_queries(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8") as fh:
        return {str(row["_id"]): row["text"] for row in map(json.loads, filter(str.strip, fh))}


def load_qrels(path: Path) -> Qrels:
    """BEIR's TSV (header 'query-id corpus-id score'); rows with score <= 0 are kept, metrics ignore them."""
    qrels: Qrels = {}
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        header = next(reader)
        if [h.strip() for h in header[:3]] != ["query-id", "corpus-id", "score"]:
            raise ValueError(f"{path}: expected the BEIR header query-id, corpus-id, score; got {header}")
        for row in reader:
            if row:
                qid, did, score = (c.strip() for c in row[:3])
                qrels.setdefault(qid, {})[did] = int(score)
    return qrels


def load_collection(directory: Path | None = None) -> Collection:
    """Load a BEIR-format folder (SciFact by default, from settings.data_dir/retrieval/scifact)."""
    root = Path(directory) if directory is not None else default_dir()
    if not (root / "corpus.jsonl").exists():
        raise FileNotFoundError(f"no BEIR collection at {root} (corpus.jsonl missing); see its SOURCE.txt")
    qrels = {p.stem: load_qrels(p) for p in sorted((root / "qrels").glob("*.tsv"))}
    collection = Collection(load_documents(root / "corpus.jsonl"), load_queries(root / "queries.jsonl"), qrels)
    known = set(collection.doc_ids)
    for name, split in qrels.items():
        missing = {d for judged in split.values() for d in judged} - known
        if missing:
            raise ValueError(f"{root}: qrels/{name}.tsv cites {len(missing)} documents not in the corpus")
    return collection


def _rank_key(qid: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{qid}".encode()).hexdigest()


def validation_split(train: Qrels, share: float = VALIDATION_SHARE, seed: int = VALIDATION_SEED) -> tuple[Qrels, Qrels]:
    """(fit, validation): `share` of the train queries, chosen by hash, go to validation; whole queries only."""
    if not 0 < share < 1:
        raise ValueError("share must be in (0, 1)")
    ordered = sorted(train, key=lambda q: _rank_key(q, seed))
    n_val = max(1, round(share * len(ordered)))
    val_ids = set(ordered[:n_val])
    fit = {q: dict(d) for q, d in train.items() if q not in val_ids}
    val = {q: dict(d) for q, d in train.items() if q in val_ids}
    return fit, val
