using System.Net;
using System.Text;
using System.Text.Json;

namespace Qwen3Gen.Serving.Tests;

/// <summary>What a client sends cannot crash the server or touch another client: each bad request gets a 4xx naming the problem.</summary>
public class HostileRequestTests
{
    private static async Task<(int Status, JsonElement Error)> Post(TestServer s, string path, string body)
    {
        using var response = await s.Http.PostAsync(path, new StringContent(body, Encoding.UTF8, "application/json"));
        var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return ((int)response.StatusCode, json.TryGetProperty("error", out var e) ? e : json);
    }

    [Theory]
    [InlineData("{not json", "body", "not valid JSON")]
    [InlineData("[1, 2]", "body", "must be a JSON object")]
    [InlineData("{}", "messages", "required")]
    [InlineData("""{"messages": []}""", "messages", "empty")]
    [InlineData("""{"messages": "hi"}""", "messages", "must be an array")]
    [InlineData("""{"messages": [{"role": "wizard", "content": "hi"}]}""", "messages[0].role", "wizard")]
    [InlineData("""{"messages": [{"role": "user"}]}""", "messages[0].content", "required")]
    [InlineData("""{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}""", "messages[0].content[0].type", "only text")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}""", "temperature", "must be a number")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "top_p": 0}""", "top_p", "(0, 1]")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}""", "max_tokens", "[1,")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1.5}""", "max_tokens", "integer")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "n": 3}""", "n", "[1, 1]")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "stop": [1]}""", "stop[0]", "string")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "logprobs": true}""", "logprobs", "not supported")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {}}]}""", "tools[0].function.name", "required")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "tool_choice": "required", "tools": []}""", "tool_choice", "not supported")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "chat_template_kwargs": {"enable_thinking": "no"}}""", "chat_template_kwargs.enable_thinking", "true or false")]
    [InlineData("""{"messages": [{"role": "user", "content": "hi"}], "seed": "x"}""", "seed", "integer")]
    public async Task BadChatRequest_Is400_NamingTheField(string body, string param, string says)
    {
        await using var s = await TestServer.Start(ServingModels.Random());
        var (status, error) = await Post(s, "v1/chat/completions", body);
        Assert.Equal(400, status);
        Assert.Equal("invalid_request_error", error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Contains(says, error.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Limits_ContextQueueRoutes_AndDisconnects()
    {
        await using var s = await TestServer.Start(ServingModels.Random(), new BatchEngineOptions { Sequences = 1, Context = 4000, PrefillChunk = 64, MaxQueue = 0 }, stopIds: []);

        // prompt over the context: 400 with the numbers
        var (status, error) = await Post(s, "v1/completions", JsonSerializer.Serialize(new { prompt = Enumerable.Range(0, 4100).ToArray() }));
        Assert.Equal(400, status);
        Assert.Equal("context_length_exceeded", error.GetProperty("code").GetString());
        Assert.Contains("4000 tokens", error.GetProperty("message").GetString());
        Assert.Contains("4100 tokens", error.GetProperty("message").GetString());
        (status, error) = await Post(s, "v1/completions", """{"prompt": [151936]}""");
        Assert.Equal(400, status);
        Assert.Equal("prompt[0]", error.GetProperty("param").GetString());

        // unknown route: 404 error object
        using (var r = await s.Http.GetAsync("v1/nothing")) Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);

        // one slot, no queue: a second request while the first streams (no stop ids: it runs 3000 tokens) gets 429
        var first = new HttpRequestMessage(HttpMethod.Post, "v1/completions")
        { Content = OpenAiClientTests.Json(new { prompt = "Once", max_tokens = 3000, stream = true }) };
        var streaming = await s.Http.SendAsync(first, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await streaming.Content.ReadAsStreamAsync());
        Assert.StartsWith("data: ", await reader.ReadLineAsync());
        (status, error) = await Post(s, "v1/completions", """{"prompt": "Twice", "max_tokens": 2}""");
        Assert.Equal(429, status);
        Assert.Equal("rate_limit_exceeded", error.GetProperty("code").GetString());

        // the client goes away: its sequence is cancelled and the slot is free again
        streaming.Dispose();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (s.Engine.Running > 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(0, s.Engine.Running);
        (status, _) = await Post(s, "v1/completions", """{"prompt": "Twice", "max_tokens": 2}""");
        Assert.Equal(200, status);
    }
}
