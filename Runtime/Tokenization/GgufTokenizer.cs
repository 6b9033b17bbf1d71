using Qwen3Gen.Checkpoints;

namespace Qwen3Gen.Tokenization;

/// <summary>
/// The Qwen3 tokenizer in GGUF metadata, as llama.cpp's HF converter writes it: <c>tokenizer.ggml.model</c> =
/// "gpt2" (byte-level BPE), <c>.pre</c> = "qwen2" (Qwen's split regex), <c>.tokens</c> (every id up to the
/// embedding's rows; ids the HF tokenizer lacks are "[PAD&lt;id&gt;]"), <c>.token_type</c> (1 normal, 3 control =
/// HF special added token, 4 user-defined = non-special added token, 5 unused), <c>.merges</c> ("left right" in
/// rank order), <c>.eos/padding/bos_token_id</c>, <c>.add_bos_token</c> = false, and <c>tokenizer.chat_template</c>.
/// Normal tokens form the BPE vocabulary, control and user-defined tokens the added tokens: the same ids as HF.
/// </summary>
public static class GgufTokenizer
{
    public const int Normal = 1, Control = 3, UserDefined = 4, Unused = 5;

    internal static Qwen3TokenizerFiles.Files Read(GgufMetadata m)
    {
        string model = m.GetString("tokenizer.ggml.model");
        if (model != "gpt2")
            throw new NotSupportedException($"'{m.File}': tokenizer.ggml.model is '{model}'; the Qwen3 tokenizer is byte-level BPE ('gpt2').");
        string? pre = m.GetStringOrNull("tokenizer.ggml.pre");
        if (pre is not null and not "qwen2")
            throw new NotSupportedException($"'{m.File}': tokenizer.ggml.pre is '{pre}'; only Qwen2/Qwen3's pre-tokenizer ('qwen2') is implemented.");
        var tokens = m.GetStringArray("tokenizer.ggml.tokens");
        int[] types = m.Contains("tokenizer.ggml.token_type") ? m.GetInt32Array("tokenizer.ggml.token_type") : Enumerable.Repeat(Normal, tokens.Length).ToArray();
        if (types.Length != tokens.Length)
            throw new InvalidDataException($"'{m.File}': tokenizer.ggml.token_type has {types.Length} entries, tokenizer.ggml.tokens {tokens.Length}.");

        var vocab = new Dictionary<string, int>(tokens.Length, StringComparer.Ordinal);
        var added = new List<Qwen3TokenizerFiles.AddedToken>();
        for (int id = 0; id < tokens.Length; id++)
        {
            switch (types[id])
            {
                case Unused: break;
                case Control: added.Add(new(tokens[id], id, Special: true)); break;
                case UserDefined: added.Add(new(tokens[id], id, Special: false)); break;
                default:
                    if (!vocab.TryAdd(tokens[id], id))
                        throw new InvalidDataException($"'{m.File}': tokenizer.ggml.tokens[{id}] '{tokens[id]}' repeats token {vocab[tokens[id]]}.");
                    break;
            }
        }

        var mergeLines = m.Contains("tokenizer.ggml.merges") ? m.GetStringArray("tokenizer.ggml.merges") : [];
        var merges = new List<(string, string)>(mergeLines.Length);
        for (int i = 0; i < mergeLines.Length; i++)
        {
            string s = mergeLines[i];
            int sp = s.IndexOf(' ');
            if (sp <= 0 || sp == s.Length - 1 || s.IndexOf(' ', sp + 1) >= 0)
                throw new InvalidDataException($"'{m.File}': tokenizer.ggml.merges[{i}] '{s}' is not 'left right'.");
            merges.Add((s[..sp], s[(sp + 1)..]));
        }

        string? eos = null;
        if (m.GetInt32OrNull("tokenizer.ggml.eos_token_id", 0, tokens.Length - 1) is int eosId) eos = tokens[eosId];
        return new Qwen3TokenizerFiles.Files(vocab, merges, added, eos);
    }

    /// <summary>
    /// Adds the tokenizer of the Hugging Face snapshot in <paramref name="directory"/> (null: the bundled Qwen3
    /// tokenizer) and its chat template (tokenizer_config.json's <c>chat_template</c>) to <paramref name="writer"/>.
    /// </summary>
    public static void Write(GgufWriter writer, string? directory, int vocabSize)
    {
        var files = directory is null ? Qwen3TokenizerFiles.ReadBundled() : Qwen3TokenizerFiles.ReadDirectory(directory);
        Write(writer, files, vocabSize, ChatTemplateOf(directory));
    }

    /// <summary>
    /// The byte-level tokenizer (id = byte value, the models trained with <c>--tokenizer byte</c>) in the same form: a
    /// "gpt2" BPE whose 256 tokens are the byte alphabet in byte order with no merges, so every byte is its own token
    /// whatever the split; ids past 255 (if the embedding has more rows) are unused "[PAD&lt;id&gt;]" tokens.
    /// </summary>
    public static void WriteByteLevel(GgufWriter writer, int vocabSize)
    {
        if (vocabSize < 256) throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, "A byte-level vocabulary needs 256 ids.");
        var tokens = new string[vocabSize];
        var types = new int[vocabSize];
        for (int id = 0; id < vocabSize; id++)
        {
            tokens[id] = id < 256 ? ByteLevel.ByteToChar[id].ToString() : $"[PAD{id}]";
            types[id] = id < 256 ? Normal : Unused;
        }
        writer.Add("tokenizer.ggml.model", "gpt2");
        writer.Add("tokenizer.ggml.pre", "qwen2");
        writer.Add("tokenizer.ggml.tokens", tokens);
        writer.Add("tokenizer.ggml.token_type", types);
        writer.Add("tokenizer.ggml.merges", Array.Empty<string>());
        writer.Add("tokenizer.ggml.add_bos_token", false);
    }

    /// <summary>tokenizer_config.json's chat_template (bundled when <paramref name="directory"/> is null), or null.</summary>
    internal static string? ChatTemplateOf(string? directory)
    {
        Stream? stream = directory is null
            ? typeof(GgufTokenizer).Assembly.GetManifestResourceStream("Qwen3Gen.Tokenization.qwen3.tokenizer_config.json")
            : File.Exists(Path.Combine(directory, "tokenizer_config.json")) ? File.OpenRead(Path.Combine(directory, "tokenizer_config.json")) : null;
        if (stream is null) return null;
        using (stream)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(stream);
            return doc.RootElement.TryGetProperty("chat_template", out var t) && t.ValueKind == System.Text.Json.JsonValueKind.String ? t.GetString() : null;
        }
    }

    /// <summary>
    /// Adds the tokenizer of a Hugging Face Qwen3 snapshot (or the bundled one) to <paramref name="writer"/>, padded
    /// to <paramref name="vocabSize"/> ids (the embedding's rows) with unused "[PAD&lt;id&gt;]" tokens, as the converter does.
    /// </summary>
    internal static void Write(GgufWriter writer, Qwen3TokenizerFiles.Files files, int vocabSize, string? chatTemplate)
    {
        var tokens = new string?[vocabSize];
        var types = new int[vocabSize];
        foreach (var (token, id) in files.Vocab)
        {
            if (id >= vocabSize) throw new InvalidDataException($"Token '{token}' has id {id}, outside the model's {vocabSize} embedding rows.");
            tokens[id] = token;
            types[id] = Normal;
        }
        foreach (var a in files.Added)
        {
            if (a.Id >= vocabSize) throw new InvalidDataException($"Added token '{a.Content}' has id {a.Id}, outside the model's {vocabSize} embedding rows.");
            tokens[a.Id] = a.Content;
            types[a.Id] = a.Special ? Control : UserDefined;
        }
        for (int id = 0; id < vocabSize; id++)
            if (tokens[id] is null)
            {
                tokens[id] = $"[PAD{id}]";
                types[id] = Unused;
            }
        int Id(string content) => files.Added.FirstOrDefault(a => a.Content == content)?.Id ?? -1;
        int endOfText = Id("<|endoftext|>");
        int eos = files.EosToken is { } e && Id(e) is >= 0 and var eid ? eid : Id("<|im_end|>");

        writer.Add("tokenizer.ggml.model", "gpt2");
        writer.Add("tokenizer.ggml.pre", "qwen2");
        writer.Add("tokenizer.ggml.tokens", tokens.Select(t => t!).ToArray());
        writer.Add("tokenizer.ggml.token_type", types);
        writer.Add("tokenizer.ggml.merges", files.Merges.Select(p => p.Item1 + " " + p.Item2).ToArray());
        if (eos >= 0) writer.Add("tokenizer.ggml.eos_token_id", (uint)eos);
        if (endOfText >= 0)
        {
            writer.Add("tokenizer.ggml.padding_token_id", (uint)endOfText);
            writer.Add("tokenizer.ggml.bos_token_id", (uint)endOfText);
        }
        writer.Add("tokenizer.ggml.add_bos_token", false);
        if (chatTemplate is not null) writer.Add("tokenizer.chat_template", chatTemplate);
    }
}
