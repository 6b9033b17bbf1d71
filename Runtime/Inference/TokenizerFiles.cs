namespace Qwen3Gen.Inference;

/// <summary>
/// Which tokenizer files a snapshot directory holds. A Qwen3 tokenizer needs <c>tokenizer.json</c>, or the
/// older pair <c>vocab.json</c> + <c>merges.txt</c>, plus <c>tokenizer_config.json</c> (special tokens, eos,
/// chat template). Only the paths are checked here; reading them is the tokenizer's job.
/// </summary>
public sealed record TokenizerFiles(string Directory)
{
    public const string TokenizerJson = "tokenizer.json";
    public const string VocabJson = "vocab.json";
    public const string MergesTxt = "merges.txt";
    public const string TokenizerConfigJson = "tokenizer_config.json";

    /// <summary>Every tokenizer file name a Hub snapshot may carry (what a snapshot writer copies).</summary>
    public static IReadOnlyList<string> AllNames { get; } = [TokenizerJson, TokenizerConfigJson, VocabJson, MergesTxt];

    public string? TokenizerJsonPath => Existing(TokenizerJson);
    public string? VocabPath => Existing(VocabJson);
    public string? MergesPath => Existing(MergesTxt);
    public string? TokenizerConfigPath => Existing(TokenizerConfigJson);

    /// <summary>True when a tokenizer can be built from the directory.</summary>
    public bool Complete => Missing().Count == 0;

    /// <summary>What is missing, as file names ("tokenizer.json (or vocab.json + merges.txt)", "tokenizer_config.json").</summary>
    public List<string> Missing()
    {
        var missing = new List<string>();
        if (TokenizerJsonPath is null)
        {
            if (VocabPath is null && MergesPath is null) missing.Add($"{TokenizerJson} (or {VocabJson} + {MergesTxt})");
            else if (VocabPath is null) missing.Add($"{VocabJson} (next to {MergesTxt}; or {TokenizerJson})");
            else if (MergesPath is null) missing.Add($"{MergesTxt} (next to {VocabJson}; or {TokenizerJson})");
        }
        if (TokenizerConfigPath is null) missing.Add(TokenizerConfigJson);
        return missing;
    }

    /// <summary>Throws <see cref="FileNotFoundException"/> listing every missing file, or returns this.</summary>
    public TokenizerFiles Require()
    {
        var missing = Missing();
        if (missing.Count == 0) return this;
        throw new FileNotFoundException(
            $"Model directory '{Directory}' has no complete tokenizer: missing {string.Join(" and ", missing)}. " +
            $"A Hugging Face snapshot carries {TokenizerJson} (or {VocabJson} + {MergesTxt}) and {TokenizerConfigJson}; " +
            "download them with the weights (e.g. `hf download Qwen/Qwen3-0.6B --local-dir DIR`).",
            Path.Combine(Directory, TokenizerJsonPath is null ? TokenizerJson : TokenizerConfigJson));
    }

    private string? Existing(string name)
    {
        string path = Path.Combine(Directory, name);
        return File.Exists(path) ? path : null;
    }
}
