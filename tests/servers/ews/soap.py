"""SOAP envelopes, faults and response messages in the shapes EWS documents.

Element and attribute names follow Microsoft's EWS reference (messages ``m:``,
types ``t:``, errors ``e:``). Everything here is pure: bytes in, elements out.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MNS = "http://schemas.microsoft.com/exchange/services/2006/messages"
TNS = "http://schemas.microsoft.com/exchange/services/2006/types"
ENS = "http://schemas.microsoft.com/exchange/services/2006/errors"
NSMAP = {"s": SOAP, "m": MNS, "t": TNS}

# What an Exchange 2019 CU12 server says about itself. Real servers report an
# internal schema name ("V2017_07_11") rather than a RequestServerVersion value.
SERVER_VERSION = {
    "MajorVersion": "15",
    "MinorVersion": "2",
    "MajorBuildNumber": "1118",
    "MinorBuildNumber": "7",
    "Version": "V2017_07_11",
}

Element = ET.Element
ParseError = ET.ParseError

for _prefix, _uri in {**NSMAP, "e": ENS}.items():
    ET.register_namespace(_prefix, _uri)


def t(name: str) -> str:
    """Clark name of a types-namespace element."""
    return f"{{{TNS}}}{name}"


def m(name: str) -> str:
    """Clark name of a messages-namespace element."""
    return f"{{{MNS}}}{name}"


def local(tag: object) -> str:
    """The local part of an element tag (``{ns}Name`` -> ``Name``)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def sub(parent: Element, tag: str, text: str | None = None, **attrs: str) -> Element:
    """Append a child element, optionally with text and attributes."""
    child = ET.SubElement(parent, tag, attrs)
    if text is not None:
        child.text = text
    return child


def el(tag: str, text: str | None = None, **attrs: str) -> Element:
    """A new detached element."""
    node = ET.Element(tag, attrs)
    if text is not None:
        node.text = text
    return node


@dataclass
class EwsError(Exception):
    """An EWS ResponseCode, raised by an operation and answered as an error message."""

    code: str
    text: str = ""
    back_off_ms: int | None = None
    values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.code, self.text)

    def message_xml(self) -> Element | None:
        values = dict(self.values)
        if self.back_off_ms is not None:
            values["BackOffMilliseconds"] = str(self.back_off_ms)
        if not values:
            return None
        xml = el(m("MessageXml"))
        for name, value in values.items():
            sub(xml, t("Value"), value, Name=name)
        return xml


def _serialize(root: Element) -> bytes:
    data: bytes = ET.tostring(root, xml_declaration=True, encoding="utf-8")
    return data


def envelope(body_child: Element) -> bytes:
    """A response envelope with the ServerVersionInfo header exchangelib reads its version from."""
    root = ET.Element(f"{{{SOAP}}}Envelope")
    header = sub(root, f"{{{SOAP}}}Header")
    sub(header, t("ServerVersionInfo"), **SERVER_VERSION)
    body = sub(root, f"{{{SOAP}}}Body")
    body.append(body_child)
    return _serialize(root)


def fault(error: EwsError) -> bytes:
    """A SOAP Fault as Exchange sends it for request-level failures (e.g. throttling).

    The ResponseCode sits in the errors namespace, MessageXml in the types
    namespace, as on the wire.
    """
    root = ET.Element(f"{{{SOAP}}}Envelope", {"xmlns:a": TNS})
    body = sub(root, f"{{{SOAP}}}Body")
    fault_el = sub(body, f"{{{SOAP}}}Fault")
    sub(fault_el, "faultcode", f"a:{error.code}")
    sub(fault_el, "faultstring", error.text or error.code)
    detail = sub(fault_el, "detail")
    sub(detail, f"{{{ENS}}}ResponseCode", error.code)
    sub(detail, f"{{{ENS}}}Message", error.text or error.code)
    values = dict(error.values)
    if error.back_off_ms is not None:
        values["BackOffMilliseconds"] = str(error.back_off_ms)
    if values:
        xml = sub(detail, t("MessageXml"))
        for name, value in values.items():
            sub(xml, t("Value"), value, Name=name)
    return _serialize(root)


def response_message(operation: str, error: EwsError | None = None) -> Element:
    """``m:<Operation>ResponseMessage`` with ResponseClass and ResponseCode."""
    msg = el(m(f"{operation}ResponseMessage"))
    if error is None:
        msg.set("ResponseClass", "Success")
        sub(msg, m("ResponseCode"), "NoError")
        return msg
    msg.set("ResponseClass", "Error")
    sub(msg, m("MessageText"), error.text or error.code)
    sub(msg, m("ResponseCode"), error.code)
    sub(msg, m("DescriptiveLinkKey"), "0")
    xml = error.message_xml()
    if xml is not None:
        msg.append(xml)
    # Sync operations keep their state elements in errors too; exchangelib reads
    # them before it looks at the ResponseCode.
    if operation == "SyncFolderItems":
        sub(msg, m("SyncState"))
        sub(msg, m("IncludesLastItemInRange"), "true")
    elif operation == "SyncFolderHierarchy":
        sub(msg, m("SyncState"))
        sub(msg, m("IncludesLastFolderInRange"), "true")
    return msg


def operation_response(operation: str, messages: list[Element]) -> Element:
    """``m:<Operation>Response`` wrapping ``m:ResponseMessages``."""
    response = el(m(f"{operation}Response"))
    container = sub(response, m("ResponseMessages"))
    for message in messages:
        container.append(message)
    return response


def parse(data: bytes) -> Element:
    """Parse a request (expat: no external entities, no network)."""
    return ET.fromstring(data)


def children(parent: Element, tag: str) -> list[Element]:
    """The children of ``parent``'s ``tag`` child (empty when it is absent)."""
    node = parent.find(tag)
    return [] if node is None else list(node)
