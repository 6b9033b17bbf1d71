using System.Reflection;
using System.Text.Json;
using Qwen3Gen.Models;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// Reads Qwen3 tokenizer files: the copies embedded in this assembly, or a model directory's
/// tokenizer.json, or vocab.json + merges.txt (+ tokenizer_config.json).
/// </summary>
internal static class Qwen3TokenizerFiles
{
    internal sealed record AddedToken(string Content, int Id, bool Special);

    internal sealed record Files(Dictionary<string, int> Vocab, List<(string, string)> Merges,
                                 List<AddedToken> Added, string? EosToken);

    /// <summary>Qwen2/Qwen3's split regex as written in tokenizer.json; others are refused.</summary>
    internal const string SplitPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    const string ResourcePrefix = "Qwen3Gen.Tokenization.qwen3.";

    public static Files ReadBundled()
    {
        var asm = typeof(Qwen3TokenizerFiles).Assembly;
        using var vocab = Resource(asm, "vocab.json");
        using var merges = Resource(asm, "merges.txt");
        using var config = Resource(asm, "tokenizer_config.json");
        var (added, eos) = ReadConfig(JsonDocument.Parse(config), "tokenizer_config.json (bundled)");
        return new Files(ReadVocab(vocab, "vocab.json (bundled)"), ReadMerges(merges), added, eos);
    }

    static Stream Resource(Assembly asm, string name)
        => asm.GetManifestResourceStream(ResourcePrefix + name)
           ?? throw new InvalidOperationException($"Embedded resource {ResourcePrefix + name} is missing from {asm.GetName().Name}.");

    public static Files ReadDirectory(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"Tokenizer directory '{directory}' does not exist.");
        string tokenizerJson = Path.Combine(directory, "tokenizer.json");
        string configPath = Path.Combine(directory, "tokenizer_config.json");
        List<AddedToken>? configAdded = null;
        string? eos = null;
        if (File.Exists(configPath))
        {
            using var doc = ParseJson(configPath);
            (configAdded, eos) = Structured(configPath, () => ReadConfig(doc, configPath));
        }

        if (File.Exists(tokenizerJson))
        {
            using var doc = ParseJson(tokenizerJson);
            var f = Structured(tokenizerJson, () => ReadTokenizerJson(doc.RootElement, tokenizerJson));
            // tokenizer.json's added_tokens are authoritative; the config may only add the eos name.
            var added = f.Added.Count > 0 ? f.Added : configAdded ?? [];
            return f with { Added = added, EosToken = eos };
        }

        string vocabPath = Path.Combine(directory, "vocab.json"), mergesPath = Path.Combine(directory, "merges.txt");
        if (!File.Exists(vocabPath) || !File.Exists(mergesPath))
            throw new FileNotFoundException(
                $"'{directory}' has neither tokenizer.json nor vocab.json + merges.txt.", File.Exists(vocabPath) ? mergesPath : vocabPath);
        if (configAdded is null)
            throw new FileNotFoundException($"'{directory}' has vocab.json + merges.txt but no tokenizer_config.json (needed for the added tokens).", configPath);
        using var vocab = ParseJson(vocabPath);
        using var m = RegularFiles.OpenRead(mergesPath, "merges file");
        return new Files(Structured(vocabPath, () => VocabFrom(vocab.RootElement, vocabPath)), ReadMerges(m, mergesPath), configAdded, eos);
    }

    /// <summary>
    /// Runs a reader over a parsed file: a field of the wrong JSON kind (JsonElement throws InvalidOperationException)
    /// or a missing required field (KeyNotFoundException) becomes an InvalidDataException naming the file.
    /// </summary>
    static T Structured<T>(string path, Func<T> read)
    {
        try { return read(); }
        catch (Exception e) when (e is KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new InvalidDataException($"'{path}' does not have the structure of a Hugging Face tokenizer file: {e.Message}", e);
        }
    }

    /// <summary>A tokenizer JSON file (regular files only); a syntax error or invalid UTF-8 is an InvalidDataException naming the file.</summary>
    static JsonDocument ParseJson(string path)
    {
        byte[] bytes = RegularFiles.ReadAllBytes(path, "tokenizer file");
        try { return JsonDocument.Parse(bytes); }
        catch (JsonException e) { throw new InvalidDataException($"'{path}' is not valid JSON: {e.Message}", e); }
    }

    static Dictionary<string, int> ReadVocab(Stream stream, string what)
    {
        using var doc = JsonDocument.Parse(stream);
        return VocabFrom(doc.RootElement, what);
    }

    /// <summary>Token ids must stay below this (Qwen3 uses 151,669; the decoding table is one entry per id).</summary>
    public const int MaxTokenId = 1 << 24;

    static Dictionary<string, int> VocabFrom(JsonElement obj, string what)
    {
        if (obj.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{what}: the vocabulary must be a JSON object of token -> id.");
        var vocab = new Dictionary<string, int>(160_000, StringComparer.Ordinal);
        foreach (var p in obj.EnumerateObject())
        {
            if (p.Value.ValueKind != JsonValueKind.Number || !p.Value.TryGetInt32(out int id) || id < 0 || id >= MaxTokenId)
                throw new InvalidDataException($"{what}: token '{p.Name}' has id {p.Value}, expected an integer in [0, {MaxTokenId}).");
            if (!vocab.TryAdd(p.Name, id)) throw new InvalidDataException($"{what}: token '{p.Name}' appears twice.");
        }
        return vocab;
    }

    static List<(string, string)> ReadMerges(Stream stream, string what = "merges.txt")
    {
        var merges = new List<(string, string)>(152_000);
        using var reader = new StreamReader(stream);
        int lineNo = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            if (line.Length == 0 || (lineNo == 1 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            int sp = line.IndexOf(' ');
            if (sp <= 0 || sp == line.Length - 1 || line.IndexOf(' ', sp + 1) >= 0)
                throw new InvalidDataException($"{what} line {lineNo}: expected two tokens separated by one space, got '{line}'.");
            merges.Add((line[..sp], line[(sp + 1)..]));
        }
        return merges;
    }

    static (List<AddedToken> Added, string? Eos) ReadConfig(JsonDocument doc, string what)
    {
        var root = doc.RootElement;
        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens_decoder", out var dec) && dec.ValueKind == JsonValueKind.Object)
            foreach (var p in dec.EnumerateObject())
            {
                if (!int.TryParse(p.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int id) || id >= MaxTokenId)
                    throw new InvalidDataException($"{what}: added_tokens_decoder key '{p.Name}' is not a token id.");
                string content = p.Value.GetProperty("content").GetString()
                                 ?? throw new InvalidDataException($"{what}: added token {id} has no content.");
                bool special = p.Value.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                added.Add(new AddedToken(content, id, special));
            }
        string? eos = null;
        if (root.TryGetProperty("eos_token", out var e))
            eos = e.ValueKind == JsonValueKind.String ? e.GetString()
                : e.ValueKind == JsonValueKind.Object && e.TryGetProperty("content", out var c) ? c.GetString() : null;
        return (added, eos);
    }

    static Files ReadTokenizerJson(JsonElement root, string what)
    {
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new InvalidDataException($"{what}: no \"model\" object.");
        if (model.TryGetProperty("type", out var type) && type.GetString() != "BPE")
            throw new NotSupportedException($"{what}: model type '{type.GetString()}' is not supported; Qwen3 uses BPE.");
        if (model.TryGetProperty("ignore_merges", out var ig) && ig.ValueKind == JsonValueKind.True)
            throw new NotSupportedException($"{what}: ignore_merges=true is not supported (Qwen3 has false).");
        CheckPreTokenizer(root, what);

        var vocab = VocabFrom(model.GetProperty("vocab"), what);
        var merges = new List<(string, string)>(152_000);
        int index = 0;
        foreach (var m in model.GetProperty("merges").EnumerateArray())
        {
            index++;
            if (m.ValueKind == JsonValueKind.String)
            {
                string s = m.GetString()!;
                int sp = s.IndexOf(' ');
                if (sp <= 0 || s.IndexOf(' ', sp + 1) >= 0) throw new InvalidDataException($"{what}: merge {index} '{s}' is not 'left right'.");
                merges.Add((s[..sp], s[(sp + 1)..]));
            }
            else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                merges.Add((m[0].GetString()!, m[1].GetString()!));
            else throw new InvalidDataException($"{what}: merge {index} is neither \"a b\" nor [\"a\", \"b\"].");
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var at) && at.ValueKind == JsonValueKind.Array)
            foreach (var t in at.EnumerateArray())
            {
                bool special = t.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                if (t.TryGetProperty("normalized", out var norm) && norm.ValueKind == JsonValueKind.True && !special)
                    throw new NotSupportedException($"{what}: added token '{t.GetProperty("content").GetString()}' has normalized=true, which is not supported.");
                int addedId = t.GetProperty("id").GetInt32();
                if (addedId < 0 || addedId >= MaxTokenId) throw new InvalidDataException($"{what}: added token id {addedId} is outside [0, {MaxTokenId}).");
                added.Add(new AddedToken(t.GetProperty("content").GetString()!, addedId, special));
            }
        return new Files(vocab, merges, added, null);
    }

    // Refuse tokenizers that would need a different pre-tokenizer: silent wrong ids are worse.
    static void CheckPreTokenizer(JsonElement root, string what)
    {
        if (!root.TryGetProperty("pre_tokenizer", out var pre) || pre.ValueKind != JsonValueKind.Object) return;
        var patterns = new List<string>();
        Collect(pre, patterns);
        foreach (var p in patterns)
            if (p != SplitPattern)
                throw new NotSupportedException($"{what}: pre-tokenizer regex '{p}' is not Qwen2/Qwen3's; only that one is implemented.");

        static void Collect(JsonElement e, List<string> into)
        {
            if (e.TryGetProperty("pattern", out var pat) && pat.TryGetProperty("Regex", out var rx)) into.Add(rx.GetString() ?? "");
            if (e.TryGetProperty("pretokenizers", out var list))
                foreach (var x in list.EnumerateArray()) Collect(x, into);
        }
    }
}
