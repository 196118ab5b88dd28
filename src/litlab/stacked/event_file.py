"""A member's TensorBoard event file, its scalars appended in the writer's process as whole records.

The logger's SummaryWriter hands every event to a thread through a queue of ten, and TensorBoard frames each
record with two CRC-32C checksums computed a byte at a time in Python (without TensorFlow installed). For an
Iris member's 600 events that was most of the time its files took. Here a batch of events is framed at once,
the checksums by google-crc32c's C extension, and the records are appended to the file the logger's
SummaryWriter made. The bytes are those `SummaryWriter.file_writer.add_summary(summary, step, walltime)` would
write. The HParams tab's summaries go into the same file, not into a second one made by a second SummaryWriter
(its thread and file cost a member a few milliseconds): TensorBoard reads the folder's files as one run.
"""

import struct
from pathlib import Path


class EventFile:
    """The event file a TensorBoard logger's SummaryWriter made, scalars appended to it here.

    The SummaryWriter appends to its file at each flush (its file system opens, appends and closes), so with
    its queue flushed first (the prediction grid, the file version) the records of both land in order.
    """

    def __init__(self, experiment, path: Path | None):
        self.experiment, self.path = experiment, path

    @classmethod
    def of(cls, logger) -> "EventFile | None":
        """The logger's event file, made now; None for a logger other than TensorBoard's."""
        from lightning.pytorch.loggers import TensorBoardLogger

        if not isinstance(logger, TensorBoardLogger):
            return None
        return cls.made(lambda: logger.experiment, Path(logger.log_dir))

    @classmethod
    def made(cls, make, folder: Path) -> "EventFile":
        """The event file that the SummaryWriter `make()` returns makes in `folder` (its path None where other
        files made meanwhile leave it ambiguous)."""
        before = set(folder.glob("events.out.tfevents.*"))
        experiment = make()  # makes the file and writes its first event (the file version)
        experiment.flush()
        made = set(folder.glob("events.out.tfevents.*")) - before
        return cls(experiment, made.pop() if len(made) == 1 else None)

    def append(self, events: list) -> None:
        """One Event per (step, walltime, {tag: value}), each a Summary of every value in the dict; in place of the
        dict, a Summary is written as it is (the HParams tab's)."""
        if self.path is None:  # the file could not be told apart from others: the SummaryWriter's own way
            for step, walltime, values in events:
                values = summary(values) if isinstance(values, dict) else values
                self.experiment.file_writer.add_summary(values, step, walltime)
            return
        data = serialized(events)
        self.experiment.flush()  # what it holds goes first
        with open(self.path, "ab") as f:
            f.write(records(data))


def serialized(events: list) -> list[bytes]:
    """Each (step, walltime, {tag: value} or Summary) as a serialized Event.

    Events with the same tags are one Event message refilled: a member's few hundred points cost a third of
    making an Event and a Summary for each (the bytes are the same)."""
    from tensorboard.compat.proto.event_pb2 import Event

    templates, data = {}, []
    for step, walltime, values in events:
        if not isinstance(values, dict):
            data.append(Event(wall_time=walltime, step=int(step), summary=values).SerializeToString())
            continue
        event = templates.get(tuple(values))
        if event is None:
            event = templates[tuple(values)] = Event(summary=summary(values))
        else:
            for value, number in zip(event.summary.value, values.values()):
                value.simple_value = float(number)
        event.wall_time, event.step = walltime, int(step)
        data.append(event.SerializeToString())
    return data


def summary(values: dict):
    """One TensorBoard Summary of every value (the tags a single run logs in one Lightning call)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    return Summary(value=[Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values.items()])


def records(data: list[bytes]) -> bytes:
    """TensorBoard's record framing of each item (tensorboard.summary.writer.record_writer.RecordWriter):
    its length (uint64), the length's masked CRC-32C, the bytes, their masked CRC-32C; all little-endian."""
    headers = [struct.pack("<Q", len(d)) for d in data]
    crcs = masked_crc32c(headers + data)
    header_crcs, data_crcs = crcs[: len(data)], crcs[len(data) :]
    return b"".join(
        h + struct.pack("<I", hc) + d + struct.pack("<I", dc)
        for h, hc, d, dc in zip(headers, header_crcs, data, data_crcs)
    )


def masked_crc32c(chunks: list[bytes]) -> list[int]:
    """TensorBoard's masked CRC-32C of each chunk (pywrap_tensorflow.masked_crc32c), the checksum computed by
    google-crc32c's C extension instead of TensorBoard's byte-at-a-time Python."""
    import google_crc32c

    return [(((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF for crc in map(google_crc32c.value, chunks)]
