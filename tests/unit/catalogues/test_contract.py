"""The catalogue file contract (shared.domains.catalogues.contract): rows, files, errors naming row and field."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shared.domains.catalogues.contract import (CatalogueItem, ContractError, Interaction, InteractionTable,
                                                check_items_known, derive_event_id, parse_timestamp, read_interactions,
                                                read_items, to_micros, validate_catalogue_id, validate_items)
from shared.domains.catalogues.store import collection_name, history_version_key, point_id


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_items_csv_categories_are_pipe_separated_and_attributes_json(tmp_path):
    path = write(tmp_path / "items.csv",
                 'item_id,title,text,categories,attributes\n'
                 '1,Toy Story (1995),"Animation, Comedy",Animation|Comedy| |Comedy,"{""year"": 1995}"\n'
                 '2,  Heat  ,,,\n')
    one, two = read_items(path)
    assert one == CatalogueItem(item_id="1", title="Toy Story (1995)", text="Animation, Comedy",
                                categories=("Animation", "Comedy"), attributes={"year": 1995})
    assert one.embedding_text == "Toy Story (1995). Animation, Comedy"
    assert (two.title, two.text, two.categories, two.attributes) == ("Heat", "", (), {})
    assert two.embedding_text == "Heat"


def test_items_parquet_categories_are_a_list(tmp_path):
    table = pa.table({"item_id": ["r1", "r2"], "title": ["Soup", "Cake"], "categories": [["soups", "vegan"], None],
                      "attributes": [json.dumps({"minutes": 20}), None]})
    pq.write_table(table, tmp_path / "items.parquet")
    one, two = read_items(tmp_path / "items.parquet")
    assert one.categories == ("soups", "vegan") and one.attributes == {"minutes": 20}
    assert two.categories == () and two.attributes == {}


def test_item_errors_name_row_and_field_and_all_are_reported(tmp_path):
    path = write(tmp_path / "items.csv",
                 "item_id,title,attributes\n"
                 "1,Fine,\n"
                 "2,,\n"                       # row 2: no title
                 "3,Bad json,{not json}\n"     # row 3: attributes
                 "1,Again,\n")                 # row 4: duplicate id
    with pytest.raises(ContractError) as err:
        read_items(path)
    found = {(e.row, e.field) for e in err.value.errors}
    assert found == {(2, "title"), (3, "attributes"), (4, "item_id")}
    assert "items row 2, field 'title'" in str(err.value) and "nothing was imported" in str(err.value)
    assert "first at row 1" in str(err.value)
    assert err.value.field == "title"


def test_unknown_and_missing_columns_are_file_errors(tmp_path):
    with pytest.raises(ContractError) as err:
        read_items(write(tmp_path / "items.csv", "item_id,titel\n1,x\n"))
    assert {(e.row, e.field) for e in err.value.errors} == {(0, "titel"), (0, "title")}
    with pytest.raises(ContractError, match="does not exist"):
        read_items(tmp_path / "nope.csv")
    with pytest.raises(ContractError, match="expected a .csv or .parquet"):
        read_items(write(tmp_path / "items.json", "{}"))


@pytest.mark.parametrize("raw,expected", [
    ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01T14:00:00+02:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
    ("2024-05-01 12:00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),     # no offset: UTC
    ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ("1714564800", datetime(2024, 5, 1, 12, tzinfo=UTC)),              # epoch seconds as CSV text
    (1714564800, datetime(2024, 5, 1, 12, tzinfo=UTC)),
    (1714564800.5, datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    (datetime(2024, 5, 1, 12), datetime(2024, 5, 1, 12, tzinfo=UTC)),
])
def test_timestamps_iso_or_epoch_seconds(raw, expected):
    assert parse_timestamp(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "", "2024-13-01", float("nan"), 1e20, True, "9999-01-01"])
def test_bad_timestamps_are_refused(raw):
    with pytest.raises(ValueError):
        parse_timestamp(raw)


def test_interactions_defaults_and_derived_ids_are_deterministic(tmp_path):
    path = write(tmp_path / "i.csv",
                 "user_id,item_id,timestamp,event_type,weight,event_id\n"
                 "u1,1,2024-05-01T12:00:00Z,,,\n"
                 "u1,2,1714564800,like,2.5,own-1\n")
    table = read_interactions(path)
    assert table.event_types == ["interaction", "like"] and table.weights.tolist() == [1.0, 2.5]
    assert table.occurred_us.tolist() == [1714564800_000000] * 2
    ids = table.stored_event_ids("books")
    assert ids[1] == "books:own-1"
    assert ids[0] == "books:" + derive_event_id("books", "u1", "1", 1714564800_000000, "interaction")
    # the same event spelled as epoch seconds, or as a model, gets the same id; another catalogue another one
    again = InteractionTable.from_rows([{"user_id": "u1", "item_id": "1", "timestamp": 1714564800}])
    assert again.stored_event_ids("books")[0] == ids[0] != again.stored_event_ids("films")[0]
    event = Interaction(user_id="u1", item_id="1", timestamp="2024-05-01T12:00:00Z")
    assert event.stored_event_id("books") == ids[0]


def test_interaction_errors_name_row_and_field(tmp_path):
    path = write(tmp_path / "i.csv",
                 "user_id,item_id,timestamp,weight\n"
                 "u1,1,2024-05-01,1\n"
                 ",1,2024-05-01,1\n"          # row 2: user_id
                 "u2,1,not-a-time,1\n"        # row 3: timestamp
                 "u3,1,2024-05-01,heavy\n")   # row 4: weight
    with pytest.raises(ContractError) as err:
        read_interactions(path)
    assert [(e.row, e.field) for e in err.value.errors] == [(2, "user_id"), (3, "timestamp"), (4, "weight")]
    assert "interactions row 3, field 'timestamp'" in str(err.value)


def test_interactions_parquet_with_typed_columns(tmp_path):
    table = pa.table({"user_id": ["a", "b"], "item_id": ["1", "2"],
                      "timestamp": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2, type=pa.timestamp("us", "UTC")),
                      "weight": pa.array([0.5, 1.0], type=pa.float64())})
    pq.write_table(table, tmp_path / "i.parquet")
    got = read_interactions(tmp_path / "i.parquet")
    assert got.weights.tolist() == [0.5, 1.0] and got.occurred_us.tolist() == [to_micros(datetime(2024, 1, 1,
                                                                                                     tzinfo=UTC))] * 2


def test_an_interaction_for_an_unknown_item_names_it():
    table = InteractionTable.from_rows([{"user_id": "u", "item_id": "1", "timestamp": 0},
                                        {"user_id": "u", "item_id": "404", "timestamp": 0}])
    with pytest.raises(ContractError) as err:
        check_items_known(table, {"1"})
    (e,) = err.value.errors
    assert (e.row, e.field) == (2, "item_id") and "'404'" in e.message


def test_columns_from_a_source_are_checked_too():
    with pytest.raises(ContractError) as err:
        InteractionTable.from_columns(["u", ""], ["1", "2"], np.array([0, 0]), weights=[1.0, float("inf")])
    assert {(e.row, e.field) for e in err.value.errors} == {(2, "user_id"), (2, "weight")}


def test_items_given_as_dicts_and_nul_characters():
    with pytest.raises(ContractError) as err:
        validate_items([{"item_id": "a", "title": "x\x00y"}, {"item_id": "b", "title": "ok", "extra": 1}])
    assert {(e.row, e.field) for e in err.value.errors} == {(1, "title"), (2, "extra")}


def test_catalogue_ids_and_the_names_derived_from_them():
    assert validate_catalogue_id("movielens-1m") == "movielens-1m"
    for bad in ("", "Movies", "a/b", "x" * 64, "-lead", "a:b"):
        with pytest.raises(ContractError):
            validate_catalogue_id(bad)
        with pytest.raises(ValueError):
            collection_name(bad)
    assert collection_name("movielens-1m") == "catalogue_movielens-1m"
    assert history_version_key("foodcom", "u1") == "recs:hv:foodcom:u1"
    assert point_id("42") == point_id("42") != point_id("43")


def test_both_files_are_checked_together_and_every_problem_reported(tmp_path):
    from shared.domains.catalogues.contract import read_catalogue_files

    items = write(tmp_path / "items.csv", "item_id,title\n1,One\n2,\n")           # row 2: no title
    inter = write(tmp_path / "i.csv", "user_id,item_id,timestamp\n"
                                      "u,1,2024-01-01\n"
                                      "u,2,2024-01-01\n"     # item 2 exists (its row is invalid, not unknown)
                                      "u,9,2024-01-01\n"     # row 3: unknown item
                                      "u,1,soon\n")          # row 4: timestamp
    with pytest.raises(ContractError) as err:
        read_catalogue_files(items, inter)
    assert [(e.file, e.row, e.field) for e in err.value.errors] == [
        ("items", 2, "title"), ("interactions", 3, "item_id"), ("interactions", 4, "timestamp")]
    assert "'9'" in err.value.errors[1].message
    # an item the catalogue already has is known
    ok_items = write(tmp_path / "ok.csv", "item_id,title\n1,One\n")
    ok_inter = write(tmp_path / "ok_i.csv", "user_id,item_id,timestamp\nu,1,2024-01-01\nu,7,2024-01-01\n")
    got_items, table = read_catalogue_files(ok_items, ok_inter, existing_items={"7"})
    assert [i.item_id for i in got_items] == ["1"] and table.item_ids == ["1", "7"]
