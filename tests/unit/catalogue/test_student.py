"""The student tagger learns a teacher's labelling, is scored on held-out data, and serves from numpy."""
from __future__ import annotations

import sys

import numpy as np

from shared.domains.travel.catalogue.merge import merge_cluster
from shared.domains.travel.catalogue.records import VenueRecord
from shared.domains.travel.catalogue.student import (
    StudentTagger,
    agreement,
    category_mask,
    decode,
    labels_matrix,
    train_student,
)
from shared.domains.travel.catalogue.taxonomy import get_taxonomy

CATS = ["sight", "food", "drink"]


def synthetic(n: int, seed: int = 0):
    """Venues whose 'teacher' tags show in their text (a keyword per tag, as the offline teacher sees it) and in
    their embedding (a direction per tag): learnable, but only by combining the venue's features."""
    rng = np.random.default_rng(seed)
    tax = get_taxonomy()
    usable = [t for t in tax.tags if t.keywords and set(CATS) & set(t.categories or CATS)]
    directions = rng.normal(size=(len(tax.ids), 384)).astype(np.float32)
    venues, emb, labels = [], [], []
    for i in range(n):
        category = CATS[i % 3]
        pool = [t for t in usable if t.applies_to(category)]
        chosen = [pool[j] for j in rng.choice(len(pool), size=int(rng.integers(1, 4)), replace=False)]
        text = "A place. " + " ".join(f"It has {t.keywords[0]}." for t in chosen)
        venues.append(merge_cluster("t", [VenueRecord("wikivoyage", str(i), "t", f"Venue {i}", category,
                                                      description=text)]))
        vec = rng.normal(size=384).astype(np.float32) + sum(directions[tax.index()[t.id]] * 0.3 for t in chosen)
        emb.append(vec / np.linalg.norm(vec))
        labels.append([t.id for t in chosen])
    return venues, np.array(emb, dtype=np.float32), labels_matrix(tax, labels), directions


def test_agreement_metrics_on_hand_cases():
    gold = np.array([[1, 0, 1, 0], [0, 1, 0, 0]], dtype=bool)
    pred = np.array([[1, 0, 0, 0], [0, 1, 1, 0]], dtype=bool)
    m = agreement(pred, gold)
    assert m["micro_precision"] == round(2 / 3, 4) and m["micro_recall"] == round(2 / 3, 4)
    assert m["micro_f1"] == round(2 / 3, 4) and m["label_accuracy"] == 0.75 and m["exact_match"] == 0.0


def test_decode_masks_categories_and_keeps_one_to_six_tags():
    tax = get_taxonomy()
    probs = np.full((2, len(tax.ids)), 0.9)
    probs[1] = 0.01
    probs[1, tax.index()["hostel"]] = 0.2  # lodging-only tag: masked for a food venue
    probs[1, tax.index()["seafood"]] = 0.1
    out = decode(probs, category_mask(tax, ["food", "food"]))
    assert out[0].sum() == 6
    assert [tax.ids[j] for j in np.where(out[1])[0]] == ["seafood"]


def test_student_learns_the_teacher_and_round_trips(tmp_path):
    venues, emb, labels, directions = synthetic(900)
    model, metrics = train_student(venues, emb, labels, tag_matrix=directions, max_iter=40,
                                   teacher="synthetic")
    held = metrics["heldout"]
    assert (metrics["heldout_size"], metrics["validation_size"], metrics["train_size"]) == (180, 90, 630)
    assert held["micro_f1"] > 0.8, held  # venues it never saw
    path = model.save(tmp_path / "student.npz")
    again = StudentTagger.load(path)
    assert again.predict(venues[:50], emb[:50]) == model.predict(venues[:50], emb[:50])
    tags = again.tag(venues[:3], emb[:3])
    assert all(t.provenance["tagger"] == "student" and 1 <= len(t.tags) <= 6 for t in tags)
    assert "sklearn" in sys.modules  # training needs it; serving (below) is numpy only


def test_labels_matrix_ignores_unknown_tags():
    tax = get_taxonomy()
    y = labels_matrix(tax, [["quiet", "nope"], []])
    assert y.shape == (2, len(tax.ids)) and y.sum() == 1 and y[0, tax.index()["quiet"]]
