using Qwen3Gen.Kernels;
using Qwen3Gen.Sampling;

namespace Qwen3Gen.Inference;

/// <summary>Settings of a <see cref="ChatSession"/>.</summary>
public sealed record ChatSessionOptions
{
    /// <summary>The system message that opens the conversation (kept when old turns are dropped); null for none.</summary>
    public string? SystemPrompt { get; init; }

    /// <summary>
    /// The template's enable_thinking: null (not passed) and true let the model think, and the soft switches
    /// /think and /no_think in user text work; false closes an empty think block in every prompt (no thinking,
    /// soft switches ignored, as Qwen3 defines it).
    /// </summary>
    public bool? EnableThinking { get; init; }

    /// <summary>
    /// Sampling of every reply. Null: <see cref="SamplingOptions.QwenThinking"/> for turns in thinking mode,
    /// <see cref="SamplingOptions.QwenNonThinking"/> otherwise (Qwen3's recommendations), with <see cref="Seed"/>.
    /// </summary>
    public SamplingOptions? Sampling { get; init; }

    /// <summary>Seed of the sampler when the session starts (the stream of draws then continues across turns).</summary>
    public ulong Seed { get; init; }

    /// <summary>Most tokens per reply.</summary>
    public int MaxNewTokens { get; init; } = 2048;

    /// <summary>Positions of the KV cache: the whole conversation plus the reply must fit (old turns are dropped otherwise).</summary>
    public int ContextLength { get; init; } = 4096;

    /// <summary>
    /// Tokens kept free for the reply when deciding whether the history fits; default min(MaxNewTokens, ContextLength / 4).
    /// A reply that outgrows the room left stops with <see cref="StopReason.ContextFull"/>.
    /// </summary>
    public int? ReplyReserve { get; init; }

    /// <summary>Prompt tokens per forward pass when prefilling.</summary>
    public int PrefillChunk { get; init; } = 128;

    /// <summary>How the session's KV cache stores keys and values (F32 exact; BF16, F16, Q8_0 smaller).</summary>
    public KvCacheFormat CacheFormat { get; init; } = KvCacheFormat.F32;

    /// <summary>Extra text that ends a reply.</summary>
    public IReadOnlyList<string>? StopStrings { get; init; }

    internal int EffectiveReserve => Math.Clamp(ReplyReserve ?? Math.Min(MaxNewTokens, ContextLength / 4), 0, ContextLength - 1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid field.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentException($"MaxNewTokens ({MaxNewTokens}) must be at least 1.");
        if (ContextLength < 2) throw new ArgumentException($"ContextLength ({ContextLength}) must be at least 2.");
        if (ReplyReserve is < 0) throw new ArgumentException($"ReplyReserve ({ReplyReserve}) must be >= 0.");
        if (PrefillChunk < 1) throw new ArgumentException($"PrefillChunk ({PrefillChunk}) must be at least 1.");
        Sampling?.Validate();
    }
}
