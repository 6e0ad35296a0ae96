"""A stateful EWS simulator that the real ``exchangelib`` talks SOAP to over loopback."""

from .server import EwsServer, RequestRecord, SentMail

__all__ = ["EwsServer", "RequestRecord", "SentMail"]
