"""Every fixed Chinese text the service itself says (dialogue and FAQ texts live in their own packages)."""

HOTLINE = "400-112-3838"

APOLOGY = f"抱歉，系统正忙，请稍后再发一次。着急的话请拨打客服热线 {HOTLINE}。"

WELCOME = (
    "您好，欢迎关注深圳CA（SZCA6688）！\n"
    "我是证书办理助手，在微信里就能：\n"
    "1. 新办数字证书（机构/机构个人/自然人），支持各招投标平台\n"
    "2. 查询申请进度（回复“进度”）\n"
    "3. 解答常见问题，如PIN码、发票、金融认证\n"
    "4. 转人工客服（回复“人工”）\n"
    "回复“申请证书”马上开始，或点击下方菜单。"
)

HELP = (
    "我可以帮您：\n"
    "• 回复“申请证书”：在线新办数字证书\n"
    "• 回复“进度”：查看我的申请\n"
    "• 直接提问，如“PIN码怎么获取”“发票在哪里”\n"
    "• 回复“人工”：转人工客服\n"
    f"客服热线 {HOTLINE}"
)

VOICE_NOT_RECOGNISED = "抱歉，没听清这条语音。请直接打字告诉我，例如“申请证书”或“PIN码怎么获取”。"

IMAGE_RECEIVED = "图片已收到。提交申请后，我会告诉您需要上传哪些资料；现在可以回复“申请证书”开始办理。"

UNSUPPORTED = "抱歉，暂时只能处理文字和图片。请直接打字说明您的需要，或发送资料照片。"

LOCATION_RECEIVED = "收到您的位置。证书办理全程线上完成，证书会邮寄给您，无需到现场。请打字告诉我您的需要。"

HANDOFF_PENDING = f"正在为您转接人工客服，请稍候。也可拨打客服热线 {HOTLINE}。"

MY_APPLICATIONS_EMPTY = "您还没有提交过证书申请。回复“申请证书”即可开始办理。"

FAQ_MENU = (
    "常见问题，直接提问即可，例如：\n"
    "• PIN码怎么获取？\n"
    "• 发票在哪里下载？\n"
    "• 审核要多久？\n"
    "• 金融认证不通过怎么办？\n"
    "• 需要上传哪些资料？"
)

# -- documents and photos -------------------------------------------------------------------------------------
DOC_CHECKING = "收到照片，正在检查…"
OCR_READING = "收到照片，正在识别证件信息，请稍候几秒…"
DOC_DOWNLOAD_FAILED = "这张照片没能从微信取回（可能已过期），请重新发送一次。"
DOC_ACCEPTED = "已收到《{name}》。"
DOC_SAME = "这张《{name}》之前已经收到了。"
DOC_REPLACED = "已用新照片替换《{name}》。"
DOC_CLOSED = "申请已进入审核，资料不能再更换。如需补充，请回复“人工”。"
DOC_PENDING_GONE = "那张照片已过期，请重新发送。"
DOC_PENDING_DROPPED = "好的，这张照片不保存。"
AUTOFILL_NOT_HERE = (
    "现在这一步用不上证件照片。填写单位信息时发营业执照照片、填写姓名或身份证号时发身份证人像面照片，"
    "我会自动识别填入。"
)
