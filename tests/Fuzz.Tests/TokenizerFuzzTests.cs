using System.Text;
using System.Text.Json.Nodes;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Fuzz.Tests;

/// <summary>
/// Damaged tokenizer folders (vocab.json + merges.txt + tokenizer_config.json of a small byte-level BPE): Qwen3Tokenizer.Load
/// either gives a tokenizer that encodes and decodes, or throws InvalidDataException, NotSupportedException or an
/// IOException (missing file, a folder in place of a file) naming the folder or the file.
/// </summary>
public class TokenizerFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly string[] Added = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"];

    /// <summary>The 256 byte tokens (GPT-2 byte-to-character map), "Ġt", "he", "Ġthe" by merges, five added tokens.</summary>
    private static (string Vocab, string Merges, string Config) Valid()
    {
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[ByteLevel.ByteToChar[b].ToString()] = b;
        vocab["Ġt"] = 256; vocab["he"] = 257; vocab["Ġthe"] = 258;
        string merges = "#version: 0.2\nĠ t\nh e\nĠt he\n";
        var decoder = new JsonObject();
        for (int i = 0; i < Added.Length; i++) decoder[(259 + i).ToString()] = new JsonObject { ["content"] = Added[i], ["special"] = i < 3 };
        var config = new JsonObject { ["added_tokens_decoder"] = decoder, ["eos_token"] = "<|im_end|>" };
        return (vocab.ToJsonString(), merges, config.ToJsonString());
    }

    [Fact]
    public void ValidFolder_Loads()
    {
        string folder = Path.Combine(Path.GetTempPath(), "qwen3gen-fuzz-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            Write(folder, Valid());
            var tok = Qwen3Tokenizer.Load(folder);
            Assert.Equal(" the", tok.Decode(tok.Encode(" the")));
            Assert.Equal([258], tok.Encode(" the"));
        }
        finally { Directory.Delete(folder, recursive: true); }
    }

    private static void Write(string folder, (string Vocab, string Merges, string Config) files)
    {
        File.WriteAllText(Path.Combine(folder, "vocab.json"), files.Vocab);
        File.WriteAllText(Path.Combine(folder, "merges.txt"), files.Merges);
        File.WriteAllText(Path.Combine(folder, "tokenizer_config.json"), files.Config);
    }

    [Fact]
    public void DamagedFolders_LoadOrThrowNamingTheFolder()
    {
        var valid = Valid();
        int loaded = 0;
        int cases = FuzzBudget.Run("tokenizer", (r, folder) =>
        {
            var files = valid;
            int which = r.Next(3);
            bool bytes = r.Next(3) == 0;
            switch (which)
            {
                case 0: files.Vocab = bytes ? Damage(r, files.Vocab) : Mutate.Json(r, files.Vocab); break;
                case 1: files.Merges = Damage(r, files.Merges); break;
                default: files.Config = bytes ? Damage(r, files.Config) : Mutate.Json(r, files.Config); break;
            }
            Write(folder, files);
            if (r.Next(10) == 0)                                                       // a file missing, or a folder in its place
            {
                string victim = Path.Combine(folder, new[] { "vocab.json", "merges.txt", "tokenizer_config.json" }[r.Next(3)]);
                File.Delete(victim);
                if (r.Next(2) == 0) Directory.CreateDirectory(victim);
            }
            Qwen3Tokenizer? tok = null;
            if (Outcome.Of(() => tok = Qwen3Tokenizer.Load(folder), folder,
                           typeof(InvalidDataException), typeof(NotSupportedException), typeof(IOException)))
            {
                int[] ids = tok!.Encode("Hello the world <|im_end|> é");
                _ = tok.Decode(ids);
                loaded++;
            }
        });
        output.WriteLine($"{cases} cases, {loaded} loaded");
    }

    private static string Damage(Random r, string text) => Encoding.UTF8.GetString(Mutate.Bytes(r, Encoding.UTF8.GetBytes(text)));
}
