"""MFCCs as TensorFlow's `AudioSpectrogram` + `Mfcc` ops compute them: the front end of ARM's
ML-KWS models (40 mel channels, 20-4000 Hz, 10 coefficients), so features fed to those models
are the ones they were trained on.

TF's recipe, which differs from librosa's in every step:
  frames     periodic Hann window of `window` samples every `stride`, no padding, FFT of the
             next power of two, |X|^2
  filterbank on sqrt(|X|^2), triangles between mel-spaced centres (mel = 1127 ln(1 + f/700)),
             each bin split between its two neighbouring channels
  log        of max(energy, 1e-12)
  DCT        orthogonal-style type II: sqrt(2/N) cos(pi/N (j + 1/2) i), no i = 0 scaling
"""
import numpy as np

FLOOR = 1e-12


def mel(f):
    return 1127.0 * np.log1p(np.asarray(f, dtype=np.float64) / 700.0)


def filterbank(bins, sample_rate, channels=40, low=20.0, high=4000.0) -> np.ndarray:
    """[bins, channels] weights applied to sqrt(power): TF's MfccMelFilterbank."""
    centres = mel(low) + (mel(high) - mel(low)) / (channels + 1) * np.arange(1, channels + 2)
    hz_per_bin = 0.5 * sample_rate / (bins - 1)
    start, end = int(1.5 + low / hz_per_bin), int(high / hz_per_bin)
    weights = np.zeros((bins, channels))
    for i in range(start, end + 1):
        m = mel(i * hz_per_bin)
        band = int(np.searchsorted(centres[:channels], m, side="left")) - 1   # first centre >= m
        if band >= 0:
            w = (centres[band + 1] - m) / (centres[band + 1] - centres[band])
            weights[i, band] += w
        else:
            w = (centres[0] - m) / (centres[0] - mel(low))
        if band + 1 < channels:
            weights[i, band + 1] += 1.0 - w
    return weights


def dct_matrix(channels, coefficients) -> np.ndarray:
    """[channels, coefficients]: TF's MfccDct."""
    i = np.arange(coefficients)[None, :]
    j = np.arange(channels)[:, None]
    return np.cos(np.pi / channels * (j + 0.5) * i) * np.sqrt(2.0 / channels)


def power_spectrogram(x, window=640, stride=320) -> np.ndarray:
    """[frames, fft/2 + 1] |FFT|^2 of periodic-Hann frames (TF's AudioSpectrogram)."""
    x = np.asarray(x, dtype=np.float64)
    if len(x) < window:
        return np.zeros((0, _fft_length(window) // 2 + 1))
    n = 1 + (len(x) - window) // stride
    frames = np.lib.stride_tricks.sliding_window_view(x, window)[::stride][:n]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(window) / window)
    spectrum = np.fft.rfft(frames * hann, n=_fft_length(window))
    return spectrum.real ** 2 + spectrum.imag ** 2


def mfcc(x, sample_rate=16000, window=640, stride=320, channels=40, coefficients=10,
         low=20.0, high=4000.0) -> np.ndarray:
    """[frames, coefficients] float32 MFCCs of float audio in [-1, 1] (TF's DecodeWav scale)."""
    power = power_spectrogram(x, window, stride)
    energies = np.sqrt(power) @ filterbank(power.shape[1], sample_rate, channels, low, high)
    return (np.log(np.maximum(energies, FLOOR)) @ dct_matrix(channels, coefficients)).astype(np.float32)


def _fft_length(window):
    return 1 << (window - 1).bit_length()
