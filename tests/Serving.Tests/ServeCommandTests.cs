using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Models;

namespace Qwen3Gen.Serving.Tests;

/// <summary>`qwen3gen serve` as a user runs it: a snapshot folder, a .gguf file or a training checkpoint in, a server out; bad options and files exit 1.</summary>
public class ServeCommandTests : IClassFixture<TestCatalog>
{
    [Theory]
    [InlineData("--parallel", "17")]
    [InlineData("--parallel", "0")]
    [InlineData("--port", "70000")]
    [InlineData("--ctx", "3")]
    [InlineData("--prefill-chunk", "0")]
    [InlineData("--queue", "-1")]
    [InlineData("--threads", "0")]
    public void BadOption_ExitsWithOne(string option, string value)
    {
        Assert.Equal(1, ServeCommand.Create().Parse(["--model", "nowhere", option, value]).Invoke());
    }

    [Fact]
    public async Task Serve_ASnapshotFolder_AnswersUntilStopped()
    {
        string root = TempRoot();
        string dir = Path.Combine(root, "Tiny-Chat");
        try
        {
            using (var model = ServingModels.Random())
                SnapshotWriter.Save(model, dir, SafeTensorsDType.BF16, shards: 1, generation: GenerationConfig.Qwen3Default,
                                                   tokenizerDirectory: TokenizerFolder());
            await using var serve = await Serve.Start(new ServeCommand.Settings { ModelDir = dir, Port = 0, Parallel = 2, Context = 512, Threads = 1 });
            Assert.Contains("2 sequences of 256 positions", serve.Output);
            Assert.Equal("Tiny-Chat", await serve.ModelId());
            using var response = await serve.Http.PostAsync("v1/chat/completions", OpenAiClientTests.Json(new { messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 3 }));
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Equal(0, await serve.Stop());
        }
        finally { Delete(root); }
    }

    /// <summary>
    /// A .gguf file (F32, the Qwen3 tokenizer in its metadata): the served model is the one written, so its greedy
    /// replies are those of the in-memory model it came from (served by <see cref="TestServer"/>).
    /// </summary>
    [Fact]
    public async Task Serve_AGgufFile_RepliesAsTheModelItWasWrittenFrom()
    {
        string root = TempRoot();
        string file = Path.Combine(root, "tiny-chat-f32.gguf");
        try
        {
            Directory.CreateDirectory(root);
            using (var model = ServingModels.Random())
                GgufExport.Write(model, GgufRecipe.F32, file, tokenizerDirectory: TokenizerFolder(), name: "tiny-chat");
            await using var reference = await TestServer.Start(ServingModels.Random());
            await using var serve = await Serve.Start(new ServeCommand.Settings { ModelDir = file, Port = 0, Parallel = 2, Context = 512, Threads = 1 });
            Assert.Equal("tiny-chat-f32", await serve.ModelId());
            foreach (string prompt in new[] { "hi", "Tell me about Paris." })
            {
                var body = new { messages = new[] { new { role = "user", content = prompt } }, max_tokens = 10, temperature = 0 };
                Assert.Equal(await ReplyIds(reference.Http, body), await ReplyIds(serve.Http, body));
            }
            Assert.Equal(0, await serve.Stop());
        }
        finally { Delete(root); }
    }

    /// <summary>
    /// A training run's checkpoint folder (`train --init-from SNAPSHOT --tokenizer qwen3`, one step): served as it is,
    /// with the trained weights (its greedy replies equal those of the checkpoint's model.safetensors in process).
    /// </summary>
    [Fact]
    public async Task Serve_ATrainingCheckpointFolder_UsesItsWeights()
    {
        string root = TempRoot();
        string snapshot = Path.Combine(root, "snapshot"), run = Path.Combine(root, "run"), data = Path.Combine(root, "data.txt");
        try
        {
            using (var model = ServingModels.Random())
                SnapshotWriter.Save(model, snapshot, SafeTensorsDType.F32, shards: 1, generation: GenerationConfig.Qwen3Default,
                                                   tokenizerDirectory: TokenizerFolder());
            File.WriteAllText(data, string.Concat(Enumerable.Repeat("The weather in Paris is mild today. ", 40)));
            int trained = CommandLine.Invoke(CommandLine.CreateRoot(), ["train", "--init-from", snapshot, "--data", data, "--steps", "1", "--batch", "1", "--context", "16",
                                                        "--lr", "0.05", "--warmup", "0", "--eval-interval", "0", "--samples", "0", "--threads", "1", "--out", run]);
            Assert.Equal(0, trained);
            string checkpoint = Path.Combine(run, "checkpoint");
            Assert.True(File.Exists(Path.Combine(checkpoint, "trainer.safetensors")), "not a training checkpoint");

            var trainedModel = Qwen3ServeTest.Create(WeightFormat.F32);
            CheckpointLoader.Load(trainedModel, Path.Combine(checkpoint, "model.safetensors"));
            using (var before = ServingModels.Random())
            {
                int n = (int)before.Weights.Count;
                Assert.False(trainedModel.Weights.Data.Slice(0, n).SequenceEqual(before.Weights.Data.Slice(0, n)), "the training step changed no weight");
            }
            await using var reference = await TestServer.Start(trainedModel);
            await using var serve = await Serve.Start(new ServeCommand.Settings { ModelDir = checkpoint, Port = 0, Parallel = 2, Context = 512, Threads = 1 });
            Assert.Equal("checkpoint", await serve.ModelId());
            var body = new { messages = new[] { new { role = "user", content = "What is the weather?" } }, max_tokens = 10, temperature = 0 };
            Assert.Equal(await ReplyIds(reference.Http, body), await ReplyIds(serve.Http, body));
            Assert.Equal(0, await serve.Stop());
        }
        finally { Delete(root); }
    }

    /// <summary>A file that is not there, and a file that is not GGUF: exit 1 with the path in the message.</summary>
    [Fact]
    public async Task Serve_AMissingOrBrokenFile_ExitsWithOne_NamingIt()
    {
        string root = TempRoot();
        try
        {
            Directory.CreateDirectory(root);
            string broken = Path.Combine(root, "broken.gguf");
            File.WriteAllText(broken, "not a gguf file at all");
            foreach (string path in new[] { Path.Combine(root, "missing.gguf"), broken })
            {
                var error = new StringWriter();
                int rc = await ServeCommand.Run(new ServeCommand.Settings { ModelDir = path, Port = 0, Parallel = 1, Context = 64, Threads = 1 },
                                                TextWriter.Null, error, CancellationToken.None);
                Assert.Equal(1, rc);
                Assert.Contains(Path.GetFileName(path), error.ToString());
            }
        }
        finally { Delete(root); }
    }

    /// <summary>The model's tokens in a greedy reply (the text alone could hide a difference in the ids).</summary>
    private static async Task<string> ReplyIds(HttpClient http, object body)
    {
        using var response = await http.PostAsync("v1/chat/completions", OpenAiClientTests.Json(body));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(200 == (int)response.StatusCode, text);
        var json = JsonDocument.Parse(text).RootElement;
        return json.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString() + " | " +
               json.GetProperty("usage").GetProperty("completion_tokens").GetInt32();
    }

    /// <summary>`qwen3gen serve` running in process (<see cref="ServeCommand.Run"/>) until <see cref="Stop"/>.</summary>
    private sealed class Serve : IAsyncDisposable
    {
        private readonly StringWriter _output = new(), _error = new();
        private readonly CancellationTokenSource _stop = new();
        private Task<int> _run = Task.FromResult(0);

        public HttpClient Http { get; private set; } = null!;
        public string Output => _output.ToString();

        public static async Task<Serve> Start(ServeCommand.Settings settings)
        {
            var s = new Serve();
            s._run = Task.Run(() => ServeCommand.Run(settings, TextWriter.Synchronized(s._output), TextWriter.Synchronized(s._error), s._stop.Token));
            string? address = null;
            for (int i = 0; i < 2400 && address is null && !s._run.IsCompleted; i++)
            {
                await Task.Delay(50);
                string text = s.Output;
                int at = text.IndexOf("http://", StringComparison.Ordinal);
                if (at >= 0) address = text[at..].Split(':', 3) is var p ? $"{p[0]}:{p[1]}:{new string(p[2].TakeWhile(char.IsDigit).ToArray())}" : null;
            }
            Assert.True(address is not null, $"no address printed; stdout: {s.Output} stderr: {s._error}");
            s.Http = new HttpClient { BaseAddress = new Uri(address + "/"), Timeout = TimeSpan.FromMinutes(2) };
            return s;
        }

        public async Task<string?> ModelId() =>
            JsonDocument.Parse(await Http.GetStringAsync("v1/models")).RootElement.GetProperty("data")[0].GetProperty("id").GetString();

        public async Task<int> Stop()
        {
            _stop.Cancel();
            return await _run.WaitAsync(TimeSpan.FromSeconds(60));
        }

        public async ValueTask DisposeAsync()
        {
            _stop.Cancel();
            try { await _run.WaitAsync(TimeSpan.FromSeconds(60)); } catch (TimeoutException) { }
            Http?.Dispose();
            _stop.Dispose();
        }
    }

    private static string TempRoot() => Path.Combine(Path.GetTempPath(), "qwen3gen-serve-tests", Guid.NewGuid().ToString("N"));

    private static string TokenizerFolder() => Path.Combine(RepoRoot(), "Runtime", "Tokenization", "qwen3");

    private static void Delete(string root)
    {
        try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Qwen3Gen.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Qwen3Gen.sln not found above " + AppContext.BaseDirectory);
    }
}
