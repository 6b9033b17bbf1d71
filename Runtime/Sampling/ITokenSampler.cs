namespace Qwen3Gen.Sampling;

/// <summary>
/// Picks each next token from a row of logits: <see cref="Sampler"/> over the whole row, or <see cref="ShardedSampler"/>
/// over one rank's part of it (tensor parallelism: the row is split by vocabulary, and the ranks pick together).
/// <see cref="Inference.TextGeneration"/> and <see cref="Inference.ChatEngine"/> drive either.
/// </summary>
public interface ITokenSampler
{
    /// <summary>The whole vocabulary.</summary>
    int Vocab { get; }

    /// <summary>The token id of the first logit <see cref="Sample"/> is given (0 for a whole row).</summary>
    int Start { get; }

    /// <summary>How many logits <see cref="Sample"/> is given (<see cref="Vocab"/> for a whole row).</summary>
    int Count { get; }

    /// <summary>The options of the next draws; setting them keeps the generator's state.</summary>
    SamplingOptions Options { get; set; }

    /// <summary>The generator's state (save it to resume a sampled stream exactly).</summary>
    RngState State { get; set; }

    /// <summary>Restarts the generator from <paramref name="seed"/>.</summary>
    void Reseed(ulong seed);

    /// <summary>Forgets the tokens seen so far (a new sequence); the generator continues.</summary>
    void Reset();

    /// <summary>Records prompt tokens (the repetition penalty applies to them).</summary>
    void AddContext(ReadOnlySpan<int> tokens);

    /// <summary>Records a generated token.</summary>
    void Accept(int token);

    /// <summary>Picks the next token from logits of ids [Start, Start + Count) (modified in place by the penalties) and records it.</summary>
    int Sample(Span<float> logits);
}
