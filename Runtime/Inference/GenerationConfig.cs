using System.Globalization;
using System.Text;
using System.Text.Json;
using Qwen3Gen.Models;

namespace Qwen3Gen.Inference;

/// <summary>
/// A snapshot's <c>generation_config.json</c>: stop ids and the sampling defaults the model's authors recommend.
/// Missing fields of a present file take Hugging Face's <c>GenerationConfig</c> defaults (temperature 1, top-k 50,
/// top-p 1, min-p off, no sampling), as transformers does; an absent file gives <see cref="Qwen3Default"/> (spec §6).
/// </summary>
public sealed record GenerationConfig
{
    public const string FileName = "generation_config.json";

    /// <summary>&lt;|endoftext|&gt;: Qwen3's bos and pad token.</summary>
    public const int EndOfText = 151643;

    /// <summary>&lt;|im_end|&gt;: ends every chat turn.</summary>
    public const int ImEnd = 151645;

    /// <summary>eos_token_id (an int or a list in the file): generation stops at any of these.</summary>
    public int[] EosTokenIds { get; init; } = [];

    /// <summary>bos_token_id (Qwen3 never prepends it; kept for completeness).</summary>
    public int? BosTokenId { get; init; }

    /// <summary>pad_token_id: fills the short rows of a batch.</summary>
    public int? PadTokenId { get; init; }

    /// <summary>do_sample: false means greedy decoding.</summary>
    public bool DoSample { get; init; }

    /// <summary>temperature (&gt; 0 when sampling; logits are divided by it).</summary>
    public float Temperature { get; init; } = 1f;

    /// <summary>top_k: keep the k most likely tokens (0 = off).</summary>
    public int TopK { get; init; } = 50;

    /// <summary>top_p: keep the smallest set whose probability reaches p (1 = off).</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>min_p: drop tokens below min_p × the top probability (0 = off).</summary>
    public float MinP { get; init; }

    /// <summary>repetition_penalty (1 = off).</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>The file it was read from, or null for built-in defaults.</summary>
    public string? Source { get; init; }

    /// <summary>
    /// The hybrid-thinking Qwen3 releases' generation_config.json (spec §6): stop at &lt;|im_end|&gt; or
    /// &lt;|endoftext|&gt;, thinking-mode sampling (temperature 0.6, top-p 0.95, top-k 20, min-p 0).
    /// </summary>
    public static GenerationConfig Qwen3Default { get; } = new()
    {
        EosTokenIds = [ImEnd, EndOfText],
        BosTokenId = EndOfText,
        PadTokenId = EndOfText,
        DoSample = true,
        Temperature = 0.6f,
        TopK = 20,
        TopP = 0.95f,
        MinP = 0f,
    };

    /// <summary>Qwen3's recommended non-thinking sampling (temperature 0.7, top-p 0.8, top-k 20, min-p 0), same stop ids.</summary>
    public static GenerationConfig Qwen3NonThinking { get; } = Qwen3Default with { Temperature = 0.7f, TopP = 0.8f };

    /// <summary>
    /// Parses a generation_config.json. <paramref name="fallbackEos"/> (config.json's eos_token_id) is used when the
    /// file names none, as transformers does. Ids must lie in [0, <paramref name="vocab"/>) when a vocabulary is given.
    /// </summary>
    public static GenerationConfig FromJson(string json, string source = FileName, int[]? fallbackEos = null, int vocab = int.MaxValue)
    {
        using (var document = JsonFiles.ParseObject(json, source))
        {
            var root = document.RootElement;
            var config = new GenerationConfig
            {
                EosTokenIds = ReadIds(root, "eos_token_id", source) ?? fallbackEos ?? [],
                BosTokenId = ReadIds(root, "bos_token_id", source) is { Length: > 0 } bos ? bos[0] : null,
                PadTokenId = ReadIds(root, "pad_token_id", source) is { Length: > 0 } pad ? pad[0] : null,
                DoSample = ReadBool(root, "do_sample", source) ?? false,
                Temperature = ReadFloat(root, "temperature", source) ?? 1f,
                TopK = ReadInt(root, "top_k", source) ?? 50,
                TopP = ReadFloat(root, "top_p", source) ?? 1f,
                MinP = ReadFloat(root, "min_p", source) ?? 0f,
                RepetitionPenalty = ReadFloat(root, "repetition_penalty", source) ?? 1f,
                Source = source,
            };
            config.Validate(vocab);
            return config;
        }
    }

    /// <summary>Throws <see cref="InvalidDataException"/> naming the first out-of-range field.</summary>
    public void Validate(int vocab = int.MaxValue)
    {
        string where = Source ?? "generation config";
        foreach (int id in EosTokenIds) CheckId("eos_token_id", id);
        if (BosTokenId is int b) CheckId("bos_token_id", b);
        if (PadTokenId is int p) CheckId("pad_token_id", p);
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new InvalidDataException($"{where}: temperature {F(Temperature)} must be a finite number ≥ 0.");
        if (TopK < 0) throw new InvalidDataException($"{where}: top_k {TopK} must be ≥ 0 (0 turns it off).");
        if (!(TopP > 0 && TopP <= 1)) throw new InvalidDataException($"{where}: top_p {F(TopP)} must lie in (0, 1].");
        if (!(MinP >= 0 && MinP <= 1)) throw new InvalidDataException($"{where}: min_p {F(MinP)} must lie in [0, 1].");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty))
            throw new InvalidDataException($"{where}: repetition_penalty {F(RepetitionPenalty)} must be a finite number > 0.");

        void CheckId(string field, int id)
        {
            if (id < 0 || id >= vocab)
                throw new InvalidDataException($"{where}: {field} {id} is outside the vocabulary [0, {vocab}).");
        }
    }

    /// <summary>The defaults for a model of <paramref name="vocab"/> tokens: <see cref="Qwen3Default"/> without the ids it lacks.</summary>
    public static GenerationConfig DefaultFor(int vocab)
    {
        var d = Qwen3Default;
        return d with
        {
            EosTokenIds = d.EosTokenIds.Where(id => id < vocab).ToArray(),
            BosTokenId = d.BosTokenId < vocab ? d.BosTokenId : null,
            PadTokenId = d.PadTokenId < vocab ? d.PadTokenId : null,
        };
    }

    /// <summary>The file's text, as transformers writes it (indented, ids as an int or a list).</summary>
    public string ToJson()
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            if (BosTokenId is int bos) w.WriteNumber("bos_token_id", bos);
            w.WriteBoolean("do_sample", DoSample);
            if (EosTokenIds.Length == 1) w.WriteNumber("eos_token_id", EosTokenIds[0]);
            else if (EosTokenIds.Length > 1)
            {
                w.WriteStartArray("eos_token_id");
                foreach (int id in EosTokenIds) w.WriteNumberValue(id);
                w.WriteEndArray();
            }
            if (MinP != 0) w.WriteNumber("min_p", MinP);
            if (PadTokenId is int pad) w.WriteNumber("pad_token_id", pad);
            if (RepetitionPenalty != 1) w.WriteNumber("repetition_penalty", RepetitionPenalty);
            w.WriteNumber("temperature", Temperature);
            w.WriteNumber("top_k", TopK);
            w.WriteNumber("top_p", TopP);
            w.WriteString("transformers_version", "4.51.0");
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    // --- JSON helpers: null counts as absent (transformers writes "pad_token_id": null) ---

    internal static int[]? ReadIds(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        if (e.ValueKind == JsonValueKind.Number) return [AsInt(e, name, source)];
        if (e.ValueKind == JsonValueKind.Array)
        {
            var ids = new List<int>();
            foreach (var item in e.EnumerateArray()) ids.Add(AsInt(item, name, source));
            return ids.ToArray();
        }
        throw new InvalidDataException($"{source}: {name} must be a token id or a list of ids, found {e.ValueKind}.");
    }

    private static int AsInt(JsonElement e, string name, string source) =>
        e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)
            ? v
            : throw new InvalidDataException($"{source}: {name} holds {e.GetRawText()}, expected an integer token id.");

    private static int? ReadInt(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out int v)
            ? v
            : throw new InvalidDataException($"{source}: {name} holds {e.GetRawText()}, expected an integer.");
    }

    private static float? ReadFloat(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind == JsonValueKind.Number
            ? (float)e.GetDouble()
            : throw new InvalidDataException($"{source}: {name} holds {e.GetRawText()}, expected a number.");
    }

    private static bool? ReadBool(JsonElement root, string name, string source)
    {
        if (!root.TryGetProperty(name, out var e) || e.ValueKind == JsonValueKind.Null) return null;
        return e.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? e.GetBoolean()
            : throw new InvalidDataException($"{source}: {name} holds {e.GetRawText()}, expected true or false.");
    }

    private static string F(float x) => x.ToString("R", CultureInfo.InvariantCulture);
}
