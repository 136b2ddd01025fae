from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import Channel, Topic, TopicError, parse_topic, shared_subscription, topic_filter
from tests.protocol.strategies import segments


@given(
    prefix=st.lists(segments, min_size=1, max_size=3).map("/".join),
    org=segments,
    device=segments,
    channel=st.sampled_from(Channel),
)
def test_build_then_parse_gives_the_same_parts(
    prefix: str, org: str, device: str, channel: Channel
) -> None:
    topic = Topic(prefix, org, device, channel)
    assert parse_topic(str(topic)) == topic
    assert parse_topic(str(topic), prefix=prefix) == topic


def test_topic_layout() -> None:
    assert (
        str(Topic("sideline", "acme", "field-1", Channel.LOGS)) == "sideline/v1/acme/field-1/logs"
    )


@pytest.mark.parametrize("bad", ["", "+", "#", "a/b", "a+b", "a#", "$SYS", " x", "é", "x" * 65])
def test_ids_that_would_break_a_topic_are_refused(bad: str) -> None:
    with pytest.raises(TopicError, match="invalid org id"):
        Topic("sideline", bad, "dev", Channel.LOGS)
    with pytest.raises(TopicError, match="invalid device id"):
        Topic("sideline", "org", bad, Channel.LOGS)


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("sideline/v1/org/dev", "levels"),
        ("sideline/v2/org/dev/logs", "version level 'v2'"),
        ("sideline/v1/org/dev/bogus", "unknown channel 'bogus'"),
        ("sideline/v1/org//logs", "invalid device id ''"),
        ("sideline/v1/+/dev/logs", "invalid org id '+'"),
        ("other/v1/org/dev/logs", "does not start with prefix"),
    ],
)
def test_parse_errors_say_what_is_wrong(topic: str, message: str) -> None:
    with pytest.raises(TopicError, match=message.replace("+", r"\+")):
        parse_topic(topic, prefix="sideline")


def test_filters_and_shared_subscriptions() -> None:
    assert topic_filter("sideline", Channel.LOGS) == "sideline/v1/+/+/logs"
    assert (
        topic_filter("sideline", Channel.COMMANDS, org="o", device="d")
        == "sideline/v1/o/d/commands"
    )
    assert (
        shared_subscription("ingest", "sideline/v1/+/+/logs")
        == "$share/ingest/sideline/v1/+/+/logs"
    )
    with pytest.raises(TopicError):
        topic_filter("sideline", Channel.LOGS, org="#")
    with pytest.raises(TopicError):
        shared_subscription("a/b", "x")
