using System.Diagnostics;
using System.Text.Json;

namespace Qwen3Gen.Serving.Tests;

/// <summary>
/// A client nobody here wrote: the official OpenAI JavaScript client (npm <c>openai</c>, pinned in
/// JsClient/package.json) runs JsClient/client.mjs under Node.js against live servers on loopback and prints what it
/// got back; this test checks it against the same requests sent as raw HTTP and against the scripted replies.
/// The package is installed before the tests (<c>npm ci --prefix tests/Serving.Tests/JsClient</c>, as .ci/run
/// does); nothing is downloaded here, and a missing Node.js or package fails the test saying so.
/// </summary>
public class JsClientTests
{
    [Fact]
    public async Task OpenAiJsClient_Chat_Completions_ToolCalls_Errors()
    {
        string folder = Path.Combine(RepoRoot(), "tests", "Serving.Tests", "JsClient");
        Assert.True(File.Exists(Path.Combine(folder, "node_modules", "openai", "package.json")),
                    $"The npm package 'openai' is not installed in {folder}/node_modules: run `npm ci --prefix tests/Serving.Tests/JsClient` " +
                    "(.ci/run does it before the tests).");

        await using var random = await TestServer.Start(ServingModels.Random());
        await using var scripted = await TestServer.Start(new ScriptedModel(ServingModels.Tokenizer, Scripts.Weather));
        await using var busy = await TestServer.Start(ServingModels.Random(), new BatchEngineOptions { Sequences = 1, Context = 4000, PrefillChunk = 64, MaxQueue = 0 }, stopIds: []);
        var js = JsonDocument.Parse(await Node(folder, "client.mjs", random.BaseUri, scripted.BaseUri, busy.BaseUri)).RootElement;

        // Chat, not streamed: the OpenAI shape, and the same text as the raw request.
        var messages = new object[] { new { role = "system", content = "Be brief." }, new { role = "user", content = "Say something." } };
        var raw = await RawJson(random, "v1/chat/completions", new { messages, max_tokens = 12 });
        var rawChoice = raw.GetProperty("choices")[0];
        var chat = js.GetProperty("chat");
        Assert.StartsWith("chatcmpl-", chat.GetProperty("id").GetString());
        Assert.Equal("chat.completion", chat.GetProperty("object").GetString());
        Assert.Equal(TestServer.ModelId, chat.GetProperty("model").GetString());
        Assert.Equal("assistant", chat.GetProperty("role").GetString());
        Assert.Equal(rawChoice.GetProperty("message").GetProperty("content").GetString(), chat.GetProperty("content").GetString());
        Assert.Equal(rawChoice.GetProperty("finish_reason").GetString(), chat.GetProperty("finish_reason").GetString());
        var usage = chat.GetProperty("usage");
        int prompt = usage.GetProperty("prompt_tokens").GetInt32(), completion = usage.GetProperty("completion_tokens").GetInt32();
        Assert.Equal(raw.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), prompt);
        Assert.InRange(completion, 1, 12);
        Assert.Equal(prompt + completion, usage.GetProperty("total_tokens").GetInt32());

        // Chat, streamed with include_usage: the role first, the same text and finish_reason, the usage chunk.
        var stream = js.GetProperty("chatStream");
        Assert.Equal("assistant", stream.GetProperty("role").GetString());
        Assert.Equal(chat.GetProperty("content").GetString(), stream.GetProperty("content").GetString());
        Assert.Equal(chat.GetProperty("finish_reason").GetString(), stream.GetProperty("finish_reason").GetString());
        Assert.Equal(prompt, stream.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(completion, stream.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.True(stream.GetProperty("chunks").GetInt32() >= 3, "role chunk, content, finish, usage");

        // Completions, streamed and not.
        var rawCompletion = await RawJson(random, "v1/completions", new { prompt = "Once upon a time", max_tokens = 7 });
        var comp = js.GetProperty("completion");
        Assert.Equal("text_completion", comp.GetProperty("object").GetString());
        Assert.Equal(rawCompletion.GetProperty("choices")[0].GetProperty("text").GetString(), comp.GetProperty("text").GetString());
        Assert.Equal("length", comp.GetProperty("finish_reason").GetString());
        Assert.Equal(7, comp.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        Assert.Equal(comp.GetProperty("text").GetString(), js.GetProperty("completionStream").GetProperty("text").GetString());

        // Error objects: the client's own error classes, with the fields it parsed out of the body.
        var tooLong = js.GetProperty("tooLong");
        Assert.True(tooLong.GetProperty("threw").GetBoolean());
        Assert.Equal("BadRequestError", tooLong.GetProperty("class").GetString());
        Assert.Equal(400, tooLong.GetProperty("status").GetInt32());
        Assert.Equal("context_length_exceeded", tooLong.GetProperty("code").GetString());
        Assert.Equal("invalid_request_error", tooLong.GetProperty("type").GetString());
        Assert.Contains("maximum context length is 512 tokens", tooLong.GetProperty("message").GetString());
        var badTemperature = js.GetProperty("badTemperature");
        Assert.Equal("BadRequestError", badTemperature.GetProperty("class").GetString());
        Assert.Equal("temperature", badTemperature.GetProperty("param").GetString());
        Assert.Equal("messages[0].role", js.GetProperty("badRole").GetProperty("param").GetString());

        // Tool calls: the scripted Qwen3 reply becomes an OpenAI tool call, streamed as one delta; the tool's result
        // goes back as a tool message and the model answers.
        var toolCall = js.GetProperty("toolCall");
        Assert.Equal("tool_calls", toolCall.GetProperty("finish_reason").GetString());
        Assert.Equal(JsonValueKind.Null, toolCall.GetProperty("content").ValueKind);
        var call = Assert.Single(toolCall.GetProperty("tool_calls").EnumerateArray());
        Assert.Equal("function", call.GetProperty("type").GetString());
        Assert.StartsWith("call_", call.GetProperty("id").GetString());
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
        var args = JsonDocument.Parse(call.GetProperty("function").GetProperty("arguments").GetString()!).RootElement;
        Assert.Equal("Paris", args.GetProperty("city").GetString());
        Assert.Equal("celsius", args.GetProperty("unit").GetString());
        var toolStream = js.GetProperty("toolCallStream");
        Assert.Equal("tool_calls", toolStream.GetProperty("finish_reason").GetString());
        Assert.Equal("", toolStream.GetProperty("content").GetString());
        var delta = Assert.Single(toolStream.GetProperty("deltas").EnumerateArray());
        Assert.Equal(0, delta.GetProperty("index").GetInt32());
        Assert.Equal("get_weather", delta.GetProperty("function").GetProperty("name").GetString());
        Assert.Equal(args.GetRawText(), JsonDocument.Parse(delta.GetProperty("function").GetProperty("arguments").GetString()!).RootElement.GetRawText());
        Assert.Equal("stop", js.GetProperty("toolAnswer").GetProperty("finish_reason").GetString());
        Assert.Equal(Scripts.Answer, js.GetProperty("toolAnswer").GetProperty("content").GetString());
        Assert.Equal(Scripts.Thought, js.GetProperty("reasoning").GetProperty("reasoning_content").GetString());
        Assert.Equal("Hello!", js.GetProperty("reasoning").GetProperty("content").GetString());

        // One sequence, no queue: 429 as the client's RateLimitError while a stream runs; the aborted stream frees it.
        var rateLimited = js.GetProperty("busy");
        Assert.Equal("RateLimitError", rateLimited.GetProperty("class").GetString());
        Assert.Equal(429, rateLimited.GetProperty("status").GetInt32());
        Assert.Equal("rate_limit_exceeded", rateLimited.GetProperty("code").GetString());
        var afterAbort = js.GetProperty("afterAbort");
        Assert.True(afterAbort.ValueKind == JsonValueKind.Object, "no request got through after the stream was aborted");
        Assert.Equal(2, afterAbort.GetProperty("completion_tokens").GetInt32());
    }

    private static async Task<JsonElement> RawJson(TestServer s, string path, object body)
    {
        using var response = await s.Http.PostAsync(path, OpenAiClientTests.Json(body));
        Assert.Equal(200, (int)response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>Runs `node SCRIPT ARGS` in <paramref name="folder"/> and returns its standard output (it must exit 0).</summary>
    private static async Task<string> Node(string folder, string script, params Uri[] args)
    {
        var start = new ProcessStartInfo("node") { WorkingDirectory = folder, RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(script);
        foreach (var a in args) start.ArgumentList.Add(a.ToString().TrimEnd('/'));
        Process process;
        try { process = Process.Start(start)!; }
        catch (System.ComponentModel.Win32Exception e) { throw new InvalidOperationException($"Node.js ('node') is needed for the JavaScript client test and could not be started: {e.Message}", e); }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
            try { await process.WaitForExitAsync(timeout.Token); }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                Assert.Fail($"node {script} did not finish in 3 minutes; stderr: {await stderr}");
            }
            Assert.True(process.ExitCode == 0, $"node {script} exited {process.ExitCode}:\n{await stderr}\n{await stdout}");
            return await stdout;
        }
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "Qwen3Gen.sln"))) return d.FullName;
        throw new DirectoryNotFoundException("Qwen3Gen.sln not found above " + AppContext.BaseDirectory);
    }
}
