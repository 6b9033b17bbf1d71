using Qwen3Gen.Kernels;

namespace Qwen3Gen.Serving;

/// <summary>Sizes and limits of a <see cref="BatchEngine"/>.</summary>
public sealed record BatchEngineOptions
{
    /// <summary>Sequences decoded together (cache slots), 1..<see cref="MatMul.MatVecMaxRows"/>. Default 8.</summary>
    public int Sequences { get; init; } = 8;

    /// <summary>Positions of each slot's KV cache: the most prompt + reply tokens one request can use. Default 1024.</summary>
    public int Context { get; init; } = 1024;

    /// <summary>
    /// Prompt tokens run per prefill step. Between two chunks of a long prompt every running sequence decodes one
    /// token, so running streams keep flowing (vLLM's chunked prefill). A reused prompt prefix is rounded down to a
    /// multiple of it, so a prompt's chunks, and hence its logits, are the same with or without the reuse. Default 64.
    /// </summary>
    public int PrefillChunk { get; init; } = 64;

    /// <summary>Requests that may wait for a free slot; one more is refused (HTTP 429). Default 64.</summary>
    public int MaxQueue { get; init; } = 64;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate(int maxPositions)
    {
        if (Sequences < 1 || Sequences > MatMul.MatVecMaxRows)
            throw new ArgumentException($"Sequences ({Sequences}) must be in 1..{MatMul.MatVecMaxRows} (sequences decoded in one step).");
        if (Context < 2 || Context > maxPositions)
            throw new ArgumentException($"Context ({Context}) must be in 2..{maxPositions} (max_position_embeddings).");
        if (PrefillChunk < 1) throw new ArgumentException($"PrefillChunk ({PrefillChunk}) must be at least 1.");
        if (MaxQueue < 0) throw new ArgumentException($"MaxQueue ({MaxQueue}) must not be negative.");
    }
}
