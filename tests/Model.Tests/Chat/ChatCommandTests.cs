using System.Text;
using System.Text.Json.Nodes;
using Qwen3Gen.Sample.Commands;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>
/// The Sample's generate and chat commands run end to end on the random snapshot (the code path a real `--model DIR`
/// takes), and damaged directories give one clear line and exit code 1, never a stack trace.
/// </summary>
[Collection(ChatModelFolderCollection.Name)]
public class ChatCommandTests(ChatModelFolderFixture fx)
{
    private static ModelSettings Settings(string dir, int maxTokens = 6) => new() { ModelDir = dir, MaxTokens = maxTokens, Temperature = 0, Threads = 2 };

    private static (int Code, string Out, string Err) Generate(GenerateCommand.Settings s)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = GenerateCommand.Run(s, output, error, terminal: false);
        return (code, output.ToString(), error.ToString());
    }

    private static (int Code, string Out, string Err) Chat(ChatCommand.Settings s, string stdin)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = ChatCommand.Run(s, new StringReader(stdin), output, error, terminal: false);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Generate_StreamsAndEndsWithTokenRates()
    {
        var (code, output, err) = Generate(new GenerateCommand.Settings { Prompt = "Hello there", Model = Settings(fx.Directory) });
        Assert.True(code == 0, err);
        Assert.Matches(@"prompt 2 tokens \(prefill [\d.]+ tok/s\), generated \d+ tokens \(decode [\d.]+ tok/s\), stop: ", err);
        Assert.EndsWith("\n", output);
    }

    [Fact]
    public void Generate_Chat_NoThink_UsesTheTemplate()
    {
        var (code, _, err) = Generate(new GenerateCommand.Settings { Prompt = "Hello", Chat = true, NoThink = true, Model = Settings(fx.Directory) });
        Assert.True(code == 0, err);
        // <|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n
        int expected = fx.Tokenizer.Encode("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n").Length;
        Assert.Contains($"prompt {expected} tokens", err);
    }

    [Fact]
    public void Chat_ReadsPipedLines_HandlesResetAndExit()
    {
        var s = new ChatCommand.Settings { Model = Settings(fx.Directory, maxTokens: 4), System = "Be brief.", Stats = true };
        var (code, output, err) = Chat(s, "Hello!\n\n/reset\nAnother question /no_think\n/exit\nnever read\n");
        Assert.True(code == 0, err);
        Assert.Contains("[conversation reset]", err);
        Assert.Equal(2, err.Split('\n').Count(l => l.StartsWith("prompt ")));      // two replies, the line after /exit unread
        Assert.DoesNotContain("never read", output + err);
    }

    [Fact]
    public void Chat_EndsAtEof()
    {
        var (code, _, err) = Chat(new ChatCommand.Settings { Model = Settings(fx.Directory, maxTokens: 3), Stats = true }, "one line, no exit");
        Assert.True(code == 0, err);
        Assert.Single(err.Split('\n'), l => l.StartsWith("prompt "));
    }

    [Fact]
    public void ChatOutput_PrefixesThinkingLines_WhenNotATerminal()
    {
        var output = new StringWriter();
        var writer = new ChatOutput(output, TextWriter.Null, terminal: false, hideThinking: false);
        writer.Begin();
        writer.Write(new(Inference.ChatChunkKind.Thinking, "step one\nstep"));
        writer.Write(new(Inference.ChatChunkKind.Thinking, " two"));
        writer.Write(new(Inference.ChatChunkKind.Answer, "Done."));
        writer.End();
        Assert.Equal("[thinking] step one\n[thinking] step two\nDone.\n", output.ToString().ReplaceLineEndings("\n"));

        var hidden = new StringWriter();
        var quiet = new ChatOutput(hidden, TextWriter.Null, terminal: false, hideThinking: true);
        quiet.Begin();
        quiet.Write(new(Inference.ChatChunkKind.Thinking, "secret"));
        quiet.Write(new(Inference.ChatChunkKind.Answer, "Done."));
        quiet.End();
        Assert.Equal("Done.\n", hidden.ToString().ReplaceLineEndings("\n"));
    }

    // ---- damaged directories: one line, exit code 1 ----

    private static void AssertOneCleanError(int code, string err, params string[] mentions)
    {
        Assert.Equal(1, code);
        Assert.StartsWith("generate: error: ", err);
        Assert.DoesNotContain("   at ", err);                       // no stack trace
        Assert.DoesNotContain("Exception", err.Split('\n')[0][..Math.Min(40, err.Length)]);
        foreach (var m in mentions) Assert.Contains(m, err);
    }

    private (int, string) GenerateIn(string dir)
    {
        var (code, _, err) = Generate(new GenerateCommand.Settings { Prompt = "hi", Model = Settings(dir) });
        return (code, err);
    }

    [Fact]
    public void MissingDirectory_IsOneClearError()
    {
        var (code, err) = GenerateIn(Path.Combine(fx.Directory, "no-such-model"));
        AssertOneCleanError(code, err, "does not exist");
    }

    [Fact]
    public void MissingTokenizerFile_IsNamed()
    {
        string dir = fx.Copy("no-vocab");
        File.Delete(Path.Combine(dir, "vocab.json"));
        var (code, err) = GenerateIn(dir);
        AssertOneCleanError(code, err, "vocab.json");
    }

    [Fact]
    public void ConfigMatchingNoDefinition_NamesTheClosestAndTheField()
    {
        string dir = fx.Copy("odd-config");
        string path = Path.Combine(dir, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["intermediate_size"] = 136;
        File.WriteAllText(path, json.ToJsonString());
        var (code, err) = GenerateIn(dir);
        AssertOneCleanError(code, err, "matches no compiled model definition", fx.DefinitionName, "136");
    }

    [Fact]
    public void TruncatedShard_IsOneClearError()
    {
        string dir = fx.Copy("truncated");
        string shard = Path.Combine(dir, "model-00002-of-00002.safetensors");
        using (var f = new FileStream(shard, FileMode.Open)) f.SetLength(f.Length / 2);
        var (code, err) = GenerateIn(dir);
        AssertOneCleanError(code, err, "model-00002-of-00002.safetensors");
    }

    [Fact]
    public void MissingShard_IsOneClearError()
    {
        string dir = fx.Copy("missing-shard");
        File.Delete(Path.Combine(dir, "model-00001-of-00002.safetensors"));
        var (code, err) = GenerateIn(dir);
        AssertOneCleanError(code, err, "model-00001-of-00002.safetensors");
    }

    [Fact]
    public void GarbageHeader_IsOneClearError()
    {
        string dir = fx.Copy("garbage");
        string shard = Path.Combine(dir, "model-00001-of-00002.safetensors");
        var bytes = File.ReadAllBytes(shard);
        Encoding.ASCII.GetBytes("{not json at all").CopyTo(bytes, 8);
        File.WriteAllBytes(shard, bytes);
        var (code, err) = GenerateIn(dir);
        AssertOneCleanError(code, err, "model-00001-of-00002.safetensors");
    }

    /// <summary>mkfifo(3): a named pipe (Linux and macOS; the tests run there).</summary>
    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int mkfifo(string path, uint mode);

    [Fact]
    public async Task FifoInPlaceOfAShard_IsRefused_WithoutOpeningIt()
    {
        string dir = fx.Copy("fifo");
        string shard = Path.Combine(dir, "model-00002-of-00002.safetensors");
        File.Delete(shard);
        Assert.Equal(0, mkfifo(shard, Convert.ToUInt32("644", 8)));
        var run = Task.Run(() => GenerateIn(dir));
        // Opening the FIFO would wait for a writer forever: the test would time out instead of failing.
        Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(60))));
        var (code, err) = await run;
        AssertOneCleanError(code, err, "model-00002-of-00002.safetensors", "FIFO");
    }

    [Theory]
    [InlineData("num_attention_heads", "0", "QG0003: num_attention_heads (0) must be positive")]
    [InlineData("num_key_value_heads", "3", "QG0001: Heads (4) must be a multiple of KvHeads (3)")]
    [InlineData("head_dim", "15", "QG0002: HeadDim (15) must be even")]
    [InlineData("rms_norm_eps", "-1", "QG0022: rms_norm_eps (-1) must be a finite number greater than 0")]
    [InlineData("num_key_value_heads", "\"2\"", "'num_key_value_heads' is \"2\"; expected an integer")]
    [InlineData("attention_bias", "\"no\"", "'attention_bias' is \"no\"; expected false or null")]
    [InlineData("use_sliding_window", "1", "'use_sliding_window' is 1; expected false or null")]
    [InlineData("tie_word_embeddings", "\"true\"", "'tie_word_embeddings' is \"true\"; expected true or false")]
    public void BadConfigField_IsTheGeneratorsRule_NamingTheFile(string field, string json, string message)
    {
        string dir = fx.Copy("bad-" + field);
        string path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        config[field] = JsonNode.Parse(json);
        File.WriteAllText(path, config.ToJsonString());
        var (code, err) = GenerateIn(dir);
        AssertOneCleanError(code, err, "config.json", message);
    }

    [Theory]
    [InlineData(2147483647)]
    [InlineData(1_000_000)]
    public void MaxTokensBeyondTheContext_IsAnErrorNamingTheOption(int maxTokens)
    {
        var (code, _, err) = Generate(new GenerateCommand.Settings { Prompt = "hi", Model = Settings(fx.Directory, maxTokens) });
        AssertOneCleanError(code, err, $"--max-tokens ({maxTokens})", "exceeds the context length");
    }
}
