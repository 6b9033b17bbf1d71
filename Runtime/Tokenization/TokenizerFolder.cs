using System.Text;
using System.Text.Json;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// The tokenizer files of a model folder, written and read back as the model's own <see cref="ITokenizer"/>:
/// <list type="bullet">
/// <item>byte-level models (id = byte value, vocabulary 256) get a <c>tokenizer.json</c> that Hugging Face's
///   <c>tokenizers</c> reads as the same tokenizer (a BPE over GPT-2's byte alphabet with the 256 bytes as its vocabulary
///   in byte order and no merges, a ByteLevel pre-tokenizer without the split regex, a ByteLevel decoder), and a
///   <c>tokenizer_config.json</c> carrying the marker <c>"qwen3gen_tokenizer": "byte"</c> so this project loads
///   <see cref="ByteTokenizer"/> for it;</item>
/// <item>Qwen3-tokenizer models get the bundled Qwen3 files (vocab.json, merges.txt, tokenizer_config.json), or the
///   files of the snapshot they were fine-tuned from.</item>
/// </list>
/// </summary>
public static class TokenizerFolder
{
    /// <summary>The key of the byte-level marker in tokenizer_config.json.</summary>
    public const string MarkerKey = "qwen3gen_tokenizer";

    /// <summary>The marker's value for the byte-level tokenizer.</summary>
    public const string ByteMarker = "byte";

    private const string TokenizerJson = "tokenizer.json", TokenizerConfigJson = "tokenizer_config.json";

    /// <summary>Every tokenizer file name a Hub snapshot may carry.</summary>
    public static IReadOnlyList<string> FileNames { get; } = [TokenizerJson, TokenizerConfigJson, "vocab.json", "merges.txt"];

    /// <summary>Writes the byte-level tokenizer.json and the marked tokenizer_config.json into <paramref name="folder"/>.</summary>
    public static void WriteByteLevel(string folder)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, TokenizerJson), ByteLevelTokenizerJson());
        File.WriteAllText(Path.Combine(folder, TokenizerConfigJson),
            "{\n  \"tokenizer_class\": \"PreTrainedTokenizerFast\",\n  \"" + MarkerKey + "\": \"" + ByteMarker + "\",\n" +
            "  \"model_max_length\": 1000000000000000019884624838656,\n  \"clean_up_tokenization_spaces\": false\n}\n");
    }

    /// <summary>Writes the Qwen3 tokenizer files embedded in the runtime (vocab.json, merges.txt, tokenizer_config.json).</summary>
    public static void WriteBundledQwen3(string folder)
    {
        Directory.CreateDirectory(folder);
        var asm = typeof(TokenizerFolder).Assembly;
        foreach (var name in new[] { "vocab.json", "merges.txt", TokenizerConfigJson })
        {
            using var resource = asm.GetManifestResourceStream("Qwen3Gen.Tokenization.qwen3." + name)
                ?? throw new InvalidOperationException($"Embedded resource Qwen3Gen.Tokenization.qwen3.{name} is missing from {asm.GetName().Name}.");
            using var file = File.Create(Path.Combine(folder, name));
            resource.CopyTo(file);
        }
    }

    /// <summary>Copies every tokenizer file of <paramref name="source"/> into <paramref name="folder"/>; throws when there is none.</summary>
    public static void Copy(string source, string folder)
    {
        var files = FileNames.Select(n => Path.Combine(source, n)).Where(File.Exists).ToArray();
        if (files.Length == 0)
            throw new FileNotFoundException($"'{source}' holds none of the tokenizer files {string.Join(", ", FileNames)}.", source);
        Directory.CreateDirectory(folder);
        foreach (var file in files)
        {
            string target = Path.Combine(folder, Path.GetFileName(file));
            if (!string.Equals(Path.GetFullPath(file), Path.GetFullPath(target), StringComparison.Ordinal)) File.Copy(file, target, overwrite: true);
        }
    }

    /// <summary>True when <paramref name="folder"/>'s tokenizer_config.json carries the byte-level marker.</summary>
    public static bool IsByteLevel(string folder)
    {
        string path = Path.Combine(folder, TokenizerConfigJson);
        if (!File.Exists(path)) return false;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty(MarkerKey, out var marker)
                && marker.ValueKind == JsonValueKind.String && marker.GetString() == ByteMarker;
        }
        catch (JsonException e) { throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e); }
    }

    /// <summary>The tokenizer of a model folder: <see cref="ByteTokenizer"/> for a marked byte-level folder, else the folder's Qwen3 tokenizer.</summary>
    public static ITokenizer Load(string folder) =>
        IsByteLevel(folder) ? ByteTokenizer.Instance : Qwen3Tokenizer.Load(folder);

    /// <summary>
    /// tokenizer.json of the byte-level tokenizer: vocabulary {ByteToChar[b]: b}, no merges, so every byte is its own
    /// token and its id is the byte value; use_regex false keeps the text in one piece (no GPT-2 split).
    /// </summary>
    public static string ByteLevelTokenizerJson()
    {
        var sb = new StringBuilder();
        sb.Append("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [],\n  \"normalizer\": null,\n");
        sb.Append("  \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": false},\n");
        sb.Append("  \"post_processor\": null,\n");
        sb.Append("  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": false, \"use_regex\": false},\n");
        sb.Append("  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"continuing_subword_prefix\": null, ");
        sb.Append("\"end_of_word_suffix\": null, \"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": false,\n    \"vocab\": {");
        for (int b = 0; b < 256; b++)
        {
            if (b > 0) sb.Append(", ");
            sb.Append(JsonSerializer.Serialize(ByteLevel.ByteToChar[b].ToString())).Append(": ").Append(b);
        }
        sb.Append("},\n    \"merges\": []\n  }\n}\n");
        return sb.ToString();
    }
}
