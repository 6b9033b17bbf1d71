namespace Qwen3Gen.Models;

/// <summary>
/// KV-cached decoding of several sequences at once (continuous batching): <see cref="Sequences"/> cache slots of
/// <see cref="Capacity"/> positions each, allocated once. A slot is filled by <see cref="Prefill"/> (one sequence,
/// in chunks) and advanced by <see cref="Decode"/>, which runs one token of every listed slot through the layers in
/// one pass: each weight matrix is read once per step for all of them, while each sequence keeps its own cache and
/// position. Slots join and leave between steps; <see cref="Rewind"/> keeps a prefix for the next request.
/// <para>
/// A sequence's logits do not depend on which other sequences share the step: products of up to
/// <see cref="MatMul.MatVecMaxRows"/> rows compute every row with the same dot-product procedure, and attention,
/// norms and RoPE are per row. Decode therefore takes at most that many sequences per call.
/// </para>
/// </summary>
public interface IBatchSession : IDisposable
{
    /// <summary>Cache slots (the most sequences decoded together).</summary>
    int Sequences { get; }

    /// <summary>Positions each slot can hold.</summary>
    int Capacity { get; }

    /// <summary>Prefill chunk: a prompt runs through the layers this many tokens at a time.</summary>
    int Chunk { get; }

    /// <summary>Positions filled so far in <paramref name="sequence"/>'s slot.</summary>
    int Position(int sequence);

    /// <summary>Appends <paramref name="tokens"/> to one slot (in chunks of <see cref="Chunk"/>) and returns the logits [Vocab] of the last one.</summary>
    ReadOnlySpan<float> Prefill(int sequence, ReadOnlySpan<int> tokens);

    /// <summary>
    /// Appends tokens[i] to slot sequences[i] for every i (distinct slots, at most <see cref="MatMul.MatVecMaxRows"/>)
    /// and returns their logits, [sequences.Length, Vocab] in the same order (valid until the next call).
    /// </summary>
    ReadOnlySpan<float> Decode(ReadOnlySpan<int> sequences, ReadOnlySpan<int> tokens);

    /// <summary>Forgets <paramref name="sequence"/>'s positions from <paramref name="position"/> on (0 empties the slot).</summary>
    void Rewind(int sequence, int position);
}
