namespace Qwen3Gen.Inference;

/// <summary>
/// When <see cref="TextGeneration"/> stops, and what it does when the session's context is full.
/// How each token is picked is the <see cref="Sampling.Sampler"/>'s business (<see cref="Sampling.SamplingOptions"/>).
/// </summary>
public sealed record GenerationOptions
{
    /// <summary>Tokens to sample at most (a stop token counts). 0 only prefills the prompt.</summary>
    public int MaxNewTokens { get; init; } = 256;

    /// <summary>Ids that end generation when sampled (they are not decoded into the text). Null: the tokenizer's <see cref="Tokenization.ITokenizer.EosIds"/>.</summary>
    public IReadOnlyList<int>? StopTokenIds { get; init; }

    /// <summary>Strings that end generation when they appear in the generated text; the text is cut just before the first one, which is never emitted.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];

    /// <summary>
    /// What to do when the next token does not fit in the session (Position == Capacity). False: stop
    /// (<see cref="StopReason.ContextFull"/>), and a prompt longer than the capacity is an error. True: nanoGPT's crop
    /// (<c>idx[:, -block_size:]</c>) done with a KV cache: empty the cache and prefill the last <see cref="WindowKeep"/> tokens,
    /// so a model trained on a fixed block size always sees positions 0..Capacity−1; a longer prompt keeps its last Capacity tokens.
    /// </summary>
    public bool SlidingWindow { get; init; }

    /// <summary>
    /// Tokens in the cache right after a slide, the new token included (1..Capacity; 0: ¾ of the capacity). Larger keeps more
    /// context but slides more often: each slide re-prefills WindowKeep tokens, once every Capacity − WindowKeep + 1 tokens.
    /// Capacity recomputes the full window for every token, exactly as nanoGPT's sample.py.
    /// </summary>
    public int WindowKeep { get; init; }

    /// <summary>Qwen3 tokenizer only: leave special tokens (&lt;|im_end|&gt; ...) out of the text.</summary>
    public bool SkipSpecialTokens { get; init; }

    /// <summary>
    /// Qwen3 tokenizer only: hand out &lt;think&gt; blocks as thinking pieces (<see cref="TextGeneration.PieceKind"/>), the tags
    /// and the format's newlines around them left out (a chat reply; <see cref="TextStream"/>).
    /// </summary>
    public bool SeparateThinking { get; init; }

    /// <summary>
    /// Sample only ids the tokenizer knows (below its <see cref="Tokenization.ITokenizer.VocabSize"/>): the logits of the model's
    /// padding rows past it are set to −∞.
    /// </summary>
    public bool OnlyTokenizerIds { get; init; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first invalid field and its value.</summary>
    public void Validate()
    {
        if (MaxNewTokens < 0) throw new ArgumentException($"MaxNewTokens ({MaxNewTokens}) must be >= 0.");
        if (WindowKeep < 0) throw new ArgumentException($"WindowKeep ({WindowKeep}) must be >= 0 (0 = three quarters of the capacity).");
        if (StopStrings is null) throw new ArgumentException("StopStrings must not be null (use an empty list).");
        for (int i = 0; i < StopStrings.Count; i++)
            if (string.IsNullOrEmpty(StopStrings[i])) throw new ArgumentException($"StopStrings[{i}] is empty: a stop string needs at least one character.");
    }
}
