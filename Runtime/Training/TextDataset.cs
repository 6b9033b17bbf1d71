using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>
/// A tokenised text split as nanoGPT's prepare.py splits it: the first ⌊0.9·n⌋ tokens train, the rest
/// validate (<c>train_data = data[:int(n*0.9)]</c>). Training windows come from <see cref="WindowSampler"/>,
/// validation windows from <see cref="SequentialWindows"/>.
/// </summary>
public sealed class TextDataset
{
    /// <summary>Target id that the loss skips (Hugging Face's ignore_index); pads partial windows.</summary>
    public const int IgnoreIndex = CausalLm.IgnoreIndex;

    /// <param name="tokens">Token ids (not copied: do not change the array afterwards).</param>
    /// <param name="trainFraction">Share of the tokens, from the start, that train (nanoGPT: 0.9).</param>
    public TextDataset(int[] tokens, double trainFraction = 0.9)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        if (!(trainFraction > 0 && trainFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "The train fraction must be in (0, 1).");
        for (int i = 0; i < tokens.Length; i++)
            if (tokens[i] < 0) throw new ArgumentException($"Token {i} has a negative id ({tokens[i]}).", nameof(tokens));
        int split = (int)(tokens.Length * trainFraction); // Python int(): truncation
        if (split < 2 || tokens.Length - split < 2)
            throw new ArgumentException($"{tokens.Length} tokens are too few: the train ({split}) and validation ({tokens.Length - split}) parts need at least 2 tokens each.", nameof(tokens));
        Tokens = tokens;
        Train = tokens.AsMemory(0, split);
        Validation = tokens.AsMemory(split);
    }

    /// <summary>Byte-level tokenisation (vocabulary 256): token id = byte value.</summary>
    public static TextDataset FromBytes(ReadOnlySpan<byte> bytes, double trainFraction = 0.9)
    {
        var tokens = new int[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) tokens[i] = bytes[i];
        return new TextDataset(tokens, trainFraction);
    }

    public ReadOnlyMemory<int> Tokens { get; }

    /// <summary>The first ⌊fraction·n⌋ tokens.</summary>
    public ReadOnlyMemory<int> Train { get; }

    /// <summary>The remaining tokens.</summary>
    public ReadOnlyMemory<int> Validation { get; }

    /// <summary>Largest token id + 1 (a check against the model's vocabulary).</summary>
    public int VocabularyNeeded
    {
        get
        {
            int max = -1;
            foreach (int t in Tokens.Span) max = Math.Max(max, t);
            return max + 1;
        }
    }
}
