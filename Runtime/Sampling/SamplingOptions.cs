namespace Qwen3Gen.Sampling;

/// <summary>
/// How <see cref="Sampler"/> turns logits into the next token. Steps, in Hugging Face's processor order:
/// repetition penalty, presence penalty, temperature (0 = greedy), top-k, top-p, min-p, then a draw
/// from the kept tokens with the seeded generator. Each filter is off at its default.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Logits are divided by it before the softmax; 0 picks the argmax (greedy). Default 1.</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>Keep only the k largest logits (0 = off).</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most probable tokens whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Drop tokens whose probability is below min_p × the top probability (0 = off).</summary>
    public float MinP { get; init; }

    /// <summary>Hugging Face repetition_penalty: the logit of every token already in the context (prompt or generated) is divided by it if positive, multiplied if negative (1 = off).</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>OpenAI / vLLM presence_penalty: subtracted once from the logit of every token already generated (0 = off; negative encourages repeats).</summary>
    public float PresencePenalty { get; init; }

    /// <summary>OpenAI / vLLM frequency_penalty: subtracted from the logit of every generated token once per time it was generated (0 = off).</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Seed of the generator: the same seed, options and logits give the same tokens.</summary>
    public ulong Seed { get; init; }

    /// <summary>Always the most probable token.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0f };

    /// <summary>Qwen3's recommendation for thinking mode: temperature 0.6, top-p 0.95, top-k 20, min-p 0.</summary>
    public static SamplingOptions QwenThinking { get; } = new() { Temperature = 0.6f, TopP = 0.95f, TopK = 20, MinP = 0f };

    /// <summary>Qwen3's recommendation for non-thinking mode: temperature 0.7, top-p 0.8, top-k 20, min-p 0.</summary>
    public static SamplingOptions QwenNonThinking { get; } = new() { Temperature = 0.7f, TopP = 0.8f, TopK = 20, MinP = 0f };

    /// <summary>True when the result does not depend on the generator: temperature 0 or top-k 1.</summary>
    public bool IsGreedy => Temperature == 0f || TopK == 1;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid field and its value.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"Temperature ({Temperature}) must be a finite number >= 0 (0 = greedy).");
        if (TopK < 0) throw new ArgumentException($"TopK ({TopK}) must be >= 0 (0 = off).");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"TopP ({TopP}) must be in (0, 1] (1 = off).");
        if (!(MinP >= 0 && MinP <= 1)) throw new ArgumentException($"MinP ({MinP}) must be in [0, 1] (0 = off).");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentException($"RepetitionPenalty ({RepetitionPenalty}) must be a finite number > 0 (1 = off).");
        if (!float.IsFinite(PresencePenalty)) throw new ArgumentException($"PresencePenalty ({PresencePenalty}) must be finite (0 = off).");
        if (!float.IsFinite(FrequencyPenalty)) throw new ArgumentException($"FrequencyPenalty ({FrequencyPenalty}) must be finite (0 = off).");
    }
}
