"""Live audio from the default input device through `sounddevice`, an optional dependency
(`pip install 'pulsar-nn[mic]'`) imported only when a verb is given --mic."""
import numpy as np

from ..errors import OptionError


def add_mic_options(parser):
    """The audio source options the audio verbs share: a WAV's channel, or the microphone."""
    parser.add_argument("--channel", type=int, help="channel of a multi-channel WAV (0-based)")
    parser.add_argument("--mic", action="store_true", help="listen to the default microphone "
                        "instead of a file (needs: pip install 'pulsar-nn[mic]')")
    parser.add_argument("--seconds", type=float, help="with --mic: stop after this long "
                        "(default: until Ctrl-C)")


def check_source(args):
    """Exactly one source: a WAV file or --mic."""
    if bool(args.audio) == bool(args.mic):
        raise OptionError("give a WAV file or --mic (one of them)")


def chunks(sample_rate, blocksize, seconds=None):
    """int16 blocks of `blocksize` samples from the microphone, mono."""
    try:
        import sounddevice
    except ImportError:
        raise OptionError("--mic needs the sounddevice package: pip install 'pulsar-nn[mic]'") \
            from None
    total = None if seconds is None else int(seconds * sample_rate)
    read = 0
    with sounddevice.InputStream(samplerate=sample_rate, channels=1, dtype="int16",
                                 blocksize=blocksize) as stream:
        while total is None or read < total:
            block, _overflowed = stream.read(blocksize)
            block = np.asarray(block, dtype=np.int16).reshape(-1)
            read += len(block)
            yield block
