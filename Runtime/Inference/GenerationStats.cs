namespace Qwen3Gen.Inference;

/// <summary>Why a generation ended.</summary>
public enum StopReason
{
    /// <summary>Still generating.</summary>
    None,
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were sampled.</summary>
    MaxTokens,
    /// <summary>A stop token (end of sequence) was sampled.</summary>
    StopToken,
    /// <summary>A stop string appeared in the text.</summary>
    StopString,
    /// <summary>The session's context is full and <see cref="GenerationOptions.SlidingWindow"/> is off.</summary>
    ContextFull,
    /// <summary>The caller's cancellation token fired.</summary>
    Cancelled,
}

/// <summary>
/// Counts and timings of one <see cref="TextGeneration"/> run. Prefill covers the prompt's forward pass; decode covers everything
/// after it: sampling, one-token forward passes and the re-prefills of sliding-window slides.
/// </summary>
public readonly record struct GenerationStats(
    int PromptTokens,
    int ReusedPromptTokens,
    int GeneratedTokens,
    TimeSpan PrefillTime,
    TimeSpan DecodeTime,
    int WindowSlides,
    StopReason StopReason)
{
    /// <summary>Prompt tokens run through the model (the prompt minus the prefix reused from the cache, minus a crop).</summary>
    public int PrefilledTokens { get; init; }

    /// <summary>Tokens fed back through the model after the prompt (one-token decodes and slides): the last sampled one is not.</summary>
    public int DecodeSteps { get; init; }

    /// <summary>Prefilled tokens per second of prefill time.</summary>
    public double PrefillTokensPerSecond => PrefillTime.Ticks > 0 ? PrefilledTokens / PrefillTime.TotalSeconds : 0;

    /// <summary>Generated tokens per second of decode time.</summary>
    public double DecodeTokensPerSecond => DecodeTime.Ticks > 0 ? GeneratedTokens / DecodeTime.TotalSeconds : 0;
}
