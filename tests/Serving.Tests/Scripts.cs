namespace Qwen3Gen.Serving.Tests;

/// <summary>The scripted replies of the tool-call tests: a weather lookup, as a Qwen3 model writes it.</summary>
public static class Scripts
{
    public const string Call = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call>";
    public const string Answer = "It is 22 degrees in Paris.";
    public const string Thought = "The user greets me.";

    /// <summary>A tool response in the conversation → the answer; tools offered → the call; otherwise a greeting (with a think block when thinking).</summary>
    public static string Weather(string conversation)
    {
        if (conversation.Contains("<tool_response>", StringComparison.Ordinal)) return Answer;
        if (conversation.Contains("\"get_weather\"", StringComparison.Ordinal)) return Call;
        return $"<think>\n{Thought}\n</think>\n\nHello!";
    }
}
