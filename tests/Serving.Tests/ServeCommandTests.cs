using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Commands;

namespace Qwen3Gen.Serving.Tests;

/// <summary>`qwen3gen serve` as a user runs it: a snapshot folder in, a server out; bad options exit 1.</summary>
public class ServeCommandTests
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
        string root = Path.Combine(Path.GetTempPath(), "qwen3gen-serve-tests", Guid.NewGuid().ToString("N"));
        string dir = Path.Combine(root, "Tiny-Chat");
        try
        {
            using (var model = ServingModels.Random())
                WeightInit.SaveHuggingFaceSnapshot(model, dir, SafeTensorsDType.BF16, shards: 1, generation: GenerationConfig.Qwen3Default,
                                                   tokenizerDirectory: Path.Combine(RepoRoot(), "Runtime", "Tokenization", "qwen3"));
            var output = new StringWriter();
            var error = new StringWriter();
            using var stop = new CancellationTokenSource();
            var settings = new ServeCommand.Settings { ModelDir = dir, Port = 0, Parallel = 2, Context = 512, Threads = 1 };
            var run = Task.Run(() => ServeCommand.Run(settings, TextWriter.Synchronized(output), TextWriter.Synchronized(error), stop.Token));
            string? address = null;
            for (int i = 0; i < 2400 && address is null && !run.IsCompleted; i++)
            {
                await Task.Delay(50);
                string text = output.ToString();
                int at = text.IndexOf("http://", StringComparison.Ordinal);
                if (at >= 0) address = text[at..].Split(':', 3) is var p ? $"{p[0]}:{p[1]}:{new string(p[2].TakeWhile(char.IsDigit).ToArray())}" : null;
            }
            Assert.True(address is not null, $"no address printed; stdout: {output} stderr: {error}");
            Assert.Contains("2 sequences of 256 positions", output.ToString());
            using var http = new HttpClient { BaseAddress = new Uri(address + "/") };
            var models = JsonDocument.Parse(await http.GetStringAsync("v1/models")).RootElement;
            Assert.Equal("Tiny-Chat", models.GetProperty("data")[0].GetProperty("id").GetString());
            using var response = await http.PostAsync("v1/chat/completions", OpenAiClientTests.Json(new { messages = new[] { new { role = "user", content = "hi" } }, max_tokens = 3 }));
            Assert.Equal(200, (int)response.StatusCode);
            stop.Cancel();
            Assert.Equal(0, await run.WaitAsync(TimeSpan.FromSeconds(60)));
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Qwen3Gen.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Qwen3Gen.sln not found above " + AppContext.BaseDirectory);
    }
}
