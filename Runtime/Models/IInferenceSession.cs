using Qwen3Gen.Kernels;

namespace Qwen3Gen.Models;

/// <summary>
/// KV-cached decoding of one sequence: the cache holds up to <see cref="Capacity"/> positions, allocated once
/// when the session is created. Prefill appends a prompt, Decode appends one token; both return the logits
/// of the last position (valid until the next call): the whole row [Vocab], or for one rank of a tensor-parallel model
/// (<see cref="TensorParallel.ITensorParallelSession"/>) its part of the row.
/// </summary>
public interface IInferenceSession : IDisposable
{
    /// <summary>Positions the cache can hold (the context length chosen at creation).</summary>
    int Capacity { get; }

    /// <summary>How the keys and values are stored.</summary>
    KvCacheFormat CacheFormat => KvCacheFormat.F32;

    /// <summary>Positions filled so far (the next token's position).</summary>
    int Position { get; }

    /// <summary>Appends <paramref name="tokens"/> at positions Position.. and returns the logits [Vocab] of the last one.</summary>
    ReadOnlySpan<float> Prefill(ReadOnlySpan<int> tokens);

    /// <summary>Appends one token and returns the logits [Vocab] of its position.</summary>
    ReadOnlySpan<float> Decode(int token);

    /// <summary>Forgets positions from <paramref name="position"/> on (0 empties the cache), e.g. to reuse a shared prompt prefix.</summary>
    void Rewind(int position);
}
