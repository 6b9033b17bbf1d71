using Qwen3Gen.Inference;
using Qwen3Gen.Tokenization;

namespace Qwen3Gen.Model.Tests.Chat;

/// <summary>Qwen3's soft switches: the latest /think or /no_think wins; enable_thinking=false overrides them.</summary>
public class ChatThinkingModeTests
{
    [Theory]
    [InlineData("How many r's in strawberries? /think", true)]
    [InlineData("Then, how many r's in blueberries? /no_think", false)]
    [InlineData("/no_think first, then /think", true)]
    [InlineData("/think first, then /no_think", false)]
    [InlineData("/no_think", false)]
    [InlineData("no switch here", null)]
    [InlineData("/thinking is not a switch", null)]
    [InlineData("a/think or /no_thinker", null)]
    [InlineData("", null)]
    public void LastSwitch_FindsTheLastStandaloneSwitch(string text, bool? expected) =>
        Assert.Equal(expected, ChatThinkingMode.LastSwitch(text));

    [Fact]
    public void LatestInstruction_Wins_AcrossTurns()
    {
        var history = new List<ChatMessage> { ChatMessage.User("Hi /no_think"), ChatMessage.Assistant("Hello") };
        Assert.False(ChatThinkingMode.IsThinking([.. history, ChatMessage.User("And now?")], null));   // still off
        Assert.True(ChatThinkingMode.IsThinking([.. history, ChatMessage.User("Think hard /think")], null));
        Assert.True(ChatThinkingMode.IsThinking([ChatMessage.User("plain")], null));                    // default: thinks
        Assert.False(ChatThinkingMode.IsThinking([ChatMessage.System("Be brief. /no_think"), ChatMessage.User("plain")], true));
    }

    [Fact]
    public void EnableThinkingFalse_IgnoresSoftSwitches()
    {
        Assert.False(ChatThinkingMode.IsThinking([ChatMessage.User("Please /think")], enableThinking: false));
    }

    [Fact]
    public void AssistantText_IsNotAnInstruction()
    {
        var messages = new List<ChatMessage> { ChatMessage.User("q"), ChatMessage.Assistant("I will /no_think now"), ChatMessage.User("q2") };
        Assert.True(ChatThinkingMode.IsThinking(messages, null));
    }
}
