using System.Diagnostics;
using System.Globalization;
using Qwen3Gen.Kernels;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>
/// A session that reports the progress of long prefills: a prompt of more than <see cref="Threshold"/> tokens is fed
/// to the wrapped session in slices of <see cref="Slice"/> tokens, with one line per slice ("prefill 2048/8192 tokens,
/// 812 tok/s") on <paramref name="report"/>. The wrapped session still runs each slice in its own prefill chunks (its
/// work buffers stay bounded by the chunk); with a chunk that divides the slice (the default 128 does) the logits are
/// bit-identical to one Prefill call. Everything else is passed through.
/// </summary>
public sealed class PrefillProgress(IInferenceSession inner, TextWriter report) : IInferenceSession
{
    public const int Threshold = 2048, Slice = 1024;

    public int Capacity => inner.Capacity;
    public int Position => inner.Position;
    public KvCacheFormat CacheFormat => inner.CacheFormat;

    public ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens)
    {
        if (tokens.Length <= Threshold) return inner.Prefill(tokens);
        // The session's own checks, before any work: a prompt that cannot fit fails at once, not after minutes.
        if (Position + tokens.Length > Capacity)
            throw new InvalidOperationException($"The context is full: {Position} cached + {tokens.Length} new tokens exceed the session's {Capacity} positions.");
        long start = Stopwatch.GetTimestamp();
        ReadOnlySpan<float> logits = default;
        for (int done = 0; done < tokens.Length;)
        {
            int n = Math.Min(Slice, tokens.Length - done);
            logits = inner.Prefill(tokens.Slice(done, n));
            done += n;
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            report.WriteLine(string.Format(CultureInfo.InvariantCulture, "prefill {0}/{1} tokens, {2:0.0} tok/s", done, tokens.Length, done / seconds));
        }
        return logits;
    }

    public ReadOnlySpan<float> Decode(int token) => inner.Decode(token);

    public void Rewind(int position) => inner.Rewind(position);

    public void Dispose() => inner.Dispose();
}
