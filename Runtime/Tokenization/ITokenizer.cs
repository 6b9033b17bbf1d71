namespace Qwen3Gen.Tokenization;

/// <summary>What training and generation need from a tokenizer.</summary>
public interface ITokenizer
{
    /// <summary>Number of ids (highest id + 1); the model's vocabulary must be at least this large.</summary>
    int VocabSize { get; }

    /// <summary>Ids that end generation (empty when there are none).</summary>
    IReadOnlyList<int> EosIds { get; }

    int[] Encode(string text);

    string Decode(ReadOnlySpan<int> ids);
}
