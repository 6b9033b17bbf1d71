namespace Qwen3Gen.Sampling;

/// <summary>
/// The logits handed to <see cref="Sampler.Sample"/> have a NaN or +∞ maximum, or are all −∞: no token can be
/// chosen. From a model this means its weights hold NaN or infinite values (a damaged or badly converted file);
/// commands report it naming the model file (<c>ModelLoading.Fail</c>).
/// </summary>
public sealed class NonFiniteLogitsException(string message) : ArgumentException(message, "logits");
