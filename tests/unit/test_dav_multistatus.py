"""Reading multistatus and error bodies, with replies captured from Radicale 3.9 and Xandikos
0.4.10 (the bodies below are theirs, shortened)."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from connectors.dav import bodies
from connectors.dav.cursor import compare, decode_listing, encode_listing
from connectors.dav.multistatus import (
    SYNC_COLLECTION,
    VALID_SYNC_TOKEN,
    MalformedBody,
    canonical_href,
    error_conditions,
    parse_multistatus,
)

RADICALE_INITIAL_SYNC_WITH_TOMBSTONE = b"""<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:"><sync-token>http://radicale.org/ns/sync/472f</sync-token><response><href>/coach/cal/c.ics</href><status>HTTP/1.1 404 Not Found</status></response><response><href>/coach/cal/a.ics</href><propstat><prop><getetag>"3c5c"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/coach/cal/x%40y%20z.ics</href><propstat><prop><getetag>"919b"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"""

XANDIKOS_SYNC_TOKEN_LAST = b"""<ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>/coach/calendars/c2/x@y%20z.ics</ns0:href><ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop><ns0:getetag>"4fa5"</ns0:getetag></ns0:prop></ns0:propstat></ns0:response><ns0:response><ns0:href>/coach/calendars/c2/c.ics</ns0:href><ns0:status>HTTP/1.1 404 Not Found</ns0:status></ns0:response><ns0:sync-token>71bc7915</ns0:sync-token></ns0:multistatus>"""

RADICALE_MULTIGET_WITH_404 = b"""<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/coach/cal/zz.ics</href><status>HTTP/1.1 404 Not Found</status></response><response><href>/coach/cal/a.ics</href><propstat><prop><getetag>"3c5c"</getetag><C:calendar-data>BEGIN:VCALENDAR\r
VERSION:2.0\r
BEGIN:VEVENT\r
UID:a\r
SUMMARY:P2P: Ta &amp; more\r
END:VEVENT\r
END:VCALENDAR\r
</C:calendar-data></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"""

XANDIKOS_PROPFIND_MISSING_COLLECTION = b"""<ns0:multistatus xmlns:ns0="DAV:"><ns0:response><ns0:href>http://127.0.0.1:15233/coach/calendars/nope/</ns0:href><ns0:status>HTTP/1.1 404 Not Found</ns0:status></ns0:response></ns0:multistatus>"""

XANDIKOS_SUPPORTED_REPORT_SET = b"""<ns0:multistatus xmlns:ns0="DAV:" xmlns:ns1="urn:ietf:params:xml:ns:caldav"><ns0:response><ns0:href>/coach/calendars/c2/</ns0:href><ns0:propstat><ns0:status>HTTP/1.1 200 OK</ns0:status><ns0:prop><ns0:supported-report-set><ns0:supported-report><ns0:report><ns1:calendar-multiget /></ns0:report></ns0:supported-report><ns0:supported-report><ns0:report><ns0:sync-collection /></ns0:report></ns0:supported-report></ns0:supported-report-set><ns0:resourcetype><ns0:collection /><ns1:calendar /></ns0:resourcetype></ns0:prop></ns0:propstat></ns0:response></ns0:multistatus>"""

RADICALE_ETAG_LISTING = b"""<?xml version='1.0' encoding='utf-8'?>
<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/coach/cal/</href><propstat><prop><getetag>"59bb"</getetag><resourcetype><C:calendar /><collection /></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/coach/cal/a.ics</href><propstat><prop><getetag>"3c5c"</getetag><resourcetype /></prop><status>HTTP/1.1 200 OK</status></propstat></response></multistatus>"""

TRUNCATED_SYNC = b"""<multistatus xmlns="DAV:"><response><href>/cal/a.ics</href><propstat><prop><getetag>"1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat></response><response><href>/cal/</href><status>HTTP/1.1 507 Insufficient Storage</status></response><sync-token>t2</sync-token></multistatus>"""

CALENDAR_DATA_REFUSED = b"""<multistatus xmlns="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><response><href>/cal/a.ics</href><propstat><prop><getetag>"1"</getetag></prop><status>HTTP/1.1 200 OK</status></propstat><propstat><prop><C:calendar-data/></prop><status>HTTP/1.1 404 Not Found</status></propstat></response></multistatus>"""


def test_radicale_initial_sync_lists_a_deleted_item_as_404() -> None:
    reply = parse_multistatus(RADICALE_INITIAL_SYNC_WITH_TOMBSTONE)

    assert reply.sync_token == "http://radicale.org/ns/sync/472f"
    assert [(e.href, e.status, e.etag) for e in reply.entries] == [
        ("/coach/cal/c.ics", 404, None),
        ("/coach/cal/a.ics", 200, '"3c5c"'),
        ("/coach/cal/x@y%20z.ics", 200, '"919b"'),
    ]
    assert not reply.truncated


def test_xandikos_sync_token_after_the_responses_is_found() -> None:
    reply = parse_multistatus(XANDIKOS_SYNC_TOKEN_LAST)

    assert reply.sync_token == "71bc7915"
    assert [(e.href, e.status) for e in reply.entries] == [
        ("/coach/calendars/c2/x@y%20z.ics", 200),
        ("/coach/calendars/c2/c.ics", 404),
    ]


def test_multiget_gives_data_with_etag_and_404_for_a_vanished_item() -> None:
    gone, found = parse_multistatus(RADICALE_MULTIGET_WITH_404).entries

    assert (gone.href, gone.status, gone.data) == ("/coach/cal/zz.ics", 404, None)
    assert found.etag == '"3c5c"'
    assert found.data is not None
    assert "SUMMARY:P2P: Ta & more\n" in found.data
    assert found.data.startswith("BEGIN:VCALENDAR")


def test_xandikos_missing_collection_is_a_207_with_a_404_for_its_absolute_url() -> None:
    (entry,) = parse_multistatus(XANDIKOS_PROPFIND_MISSING_COLLECTION).entries

    assert (entry.href, entry.status) == ("/coach/calendars/nope/", 404)


def test_supported_report_set_names_sync_collection() -> None:
    (entry,) = parse_multistatus(XANDIKOS_SUPPORTED_REPORT_SET).entries

    assert SYNC_COLLECTION in entry.reports
    assert "{urn:ietf:params:xml:ns:caldav}calendar-multiget" in entry.reports
    assert entry.collection


def test_etag_listing_marks_the_collection_itself() -> None:
    own, item = parse_multistatus(RADICALE_ETAG_LISTING).entries

    assert (own.href, own.collection) == ("/coach/cal/", True)
    assert (item.href, item.etag, item.collection) == ("/coach/cal/a.ics", '"3c5c"', False)


def test_truncated_sync_reply_is_flagged_and_the_marker_dropped() -> None:
    reply = parse_multistatus(TRUNCATED_SYNC)

    assert reply.truncated
    assert [e.href for e in reply.entries] == ["/cal/a.ics"]
    assert reply.sync_token == "t2"


def test_props_in_a_failed_propstat_are_not_read() -> None:
    (entry,) = parse_multistatus(CALENDAR_DATA_REFUSED).entries

    assert (entry.status, entry.etag, entry.data) == (200, '"1"', None)


def test_empty_multistatus_has_no_entries() -> None:
    reply = parse_multistatus(b'<multistatus xmlns="DAV:"><sync-token>t</sync-token></multistatus>')

    assert reply.entries == ()
    assert reply.sync_token == "t"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),
        (b"<html><body>Bad gateway</body></html>", "expected DAV:multistatus"),
        (b'<multistatus xmlns="DAV:"><response>', "not XML"),
        (
            b'<multistatus xmlns="DAV:"><response><status>HTTP/1.1 200 OK</status></response></multistatus>',
            "DAV:response without DAV:href",
        ),
        (
            b'<multistatus xmlns="DAV:"><response><href>/a</href><status>HTTP/1.1</status>'
            b"</response></multistatus>",
            "unreadable DAV:status",
        ),
    ],
)
def test_unreadable_bodies_say_why(body: bytes, reason: str) -> None:
    with pytest.raises(MalformedBody, match=reason):
        parse_multistatus(body)


def test_external_entities_are_not_resolved() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<multistatus xmlns="DAV:"><sync-token>&x;</sync-token></multistatus>'
    )

    assert parse_multistatus(body).sync_token is None


def test_radicale_rejected_token_names_valid_sync_token() -> None:
    body = b"<?xml version='1.0' encoding='utf-8'?>\n<error xmlns=\"DAV:\"><valid-sync-token /></error>"

    assert error_conditions(body) == {VALID_SYNC_TOKEN}


def test_xandikos_rejected_token_names_valid_sync_token_beside_a_description() -> None:
    body = (
        b'<ns0:error xmlns:ns0="DAV:"><ns0:valid-sync-token /><ns0:responsedescription>'
        b"Requested sync token bogus is invalid</ns0:responsedescription></ns0:error>"
    )

    assert VALID_SYNC_TOKEN in error_conditions(body)


@pytest.mark.parametrize("body", [b"", b"Forbidden", b"<multistatus xmlns='DAV:'/>", b"<error/>"])
def test_a_body_that_is_not_a_dav_error_names_no_condition(body: bytes) -> None:
    assert error_conditions(body) == frozenset()


@pytest.mark.parametrize(
    ("href", "canonical"),
    [
        ("/coach/cal/a.ics", "/coach/cal/a.ics"),
        ("/coach/cal/x%40y%20z.ics", "/coach/cal/x@y%20z.ics"),
        ("/coach/cal/x@y%20z.ics", "/coach/cal/x@y%20z.ics"),
        ("http://127.0.0.1:15233/coach/cal/", "/coach/cal/"),
        ("/cal/a%2fb.ics", "/cal/a%2Fb.ics"),
        ("/cal/caf%C3%A9.ics", "/cal/caf%C3%A9.ics"),
        ("/cal/café.ics", "/cal/caf%C3%A9.ics"),
        ("  /cal/a.ics\n", "/cal/a.ics"),
    ],
)
def test_hrefs_compare_in_one_spelling(href: str, canonical: str) -> None:
    assert canonical_href(href) == canonical


def test_multiget_body_lists_every_href_escaped() -> None:
    hrefs = ["/cal/a.ics", "/cal/b&c<d>.ics"]

    root = ElementTree.fromstring(bodies.calendar_multiget(hrefs))

    assert root.tag == "{urn:ietf:params:xml:ns:caldav}calendar-multiget"
    assert [href.text for href in root.iter("{DAV:}href")] == hrefs
    assert [prop.tag for prop in root.iterfind("{DAV:}prop/*")] == [
        "{DAV:}getetag",
        "{urn:ietf:params:xml:ns:caldav}calendar-data",
    ]


def test_sync_body_sends_an_empty_token_for_a_first_sync() -> None:
    assert b"<D:sync-token></D:sync-token>" in bodies.sync_collection(None)
    assert b"<D:sync-token>a&lt;b</D:sync-token>" in bodies.sync_collection("a<b")


def test_etag_listing_round_trips_through_the_cursor() -> None:
    listing = {"/cal/a.ics": '"1"', "/cal/b.ics": 'W/"2"'}

    assert decode_listing(encode_listing(listing)) == listing


@pytest.mark.parametrize("cursor", ["etag:", "etag:[1]", 'etag:{"/a": 1}', "etag:{nope"])
def test_an_unreadable_listing_is_no_listing(cursor: str) -> None:
    assert decode_listing(cursor) is None


def test_listings_compare_into_changed_and_removed() -> None:
    previous = {"/a": '"1"', "/b": '"1"', "/c": '"1"'}
    current = {"/a": '"1"', "/b": '"2"', "/d": '"1"'}

    assert compare(previous, current) == (["/b", "/d"], ["/c"])
