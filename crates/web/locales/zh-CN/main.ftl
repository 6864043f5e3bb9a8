# 天平 Web 界面的中文文案（默认语言）。
# 每条消息的 id 必须同时出现在 en-US/main.ftl 中，并使用相同的变量；测试会检查。
# 约定：id 以所在页面或部件开头（nav-、home-、form-、error-……），小写、以连字符分隔。

## 通用

brand = 天平 Tianping
skip-to-content = 跳到主要内容
language-zh-CN = 中文
language-en-US = English
lang-switch-label = 语言：

## 导航

nav-label = 主导航
nav-home = 首页
nav-login = 登录
nav-signup = 注册
nav-privacy = 隐私中心
nav-verification-queue = 审核队列
nav-blacklist = 黑名单
nav-sign-out = 退出登录
nav-signed-in-as = 当前用户：{ $name }

## 页脚

footer-tagline = 天平是开源的互联网+医疗风险分担服务平台，中立运行，全天候在线。
footer-licence = 源代码以 Apache-2.0 许可证发布。

## 首页

home-title = 首页
home-heading = 互联网+医疗风险分担服务平台
home-lead = 天平作为中立的第三方，连接患方、医方和保方：提供法律援助、纠纷调解和赔偿服务，并通过医疗责任险和医疗意外险，在责任明确后把赔款直接付给受损害的患者。
home-cta-signup = 注册账号
home-cta-login = 已有账号？登录
home-services-heading = 我们为谁服务
home-patients-heading = 患者和家属
home-patients-body = 免费投诉、索赔、申请调解和法律援助；随时查看案件进度和每一个期限；管理自己的授权，看到谁在何时出于何种目的读取了您的数据。
home-providers-heading = 医院、互联网医院和医生
home-providers-body = 处理投诉、参与调解、投保医疗责任险，与患者共同封存病历，查看本机构的合规报告。
home-insurers-heading = 保险机构
home-insurers-body = 在同一流程中完成纠纷介入、处理和理赔：核对保障范围、计提准备金、定损赔付并依法追偿。
home-evidence-heading = 证据可以被证明
home-evidence-body = 每一条问诊消息、通话录音、处方、授权决定和数据访问都加密保存，并写入一份防篡改的默克尔日志。多年以后发生争议时，调解员、保险机构或法院仍可以独立验证这些事实没有被改动。
home-neutral-body = 每位用户拥有独立的权限；相关各方之间的数据只经加密接口交换，并且只在用户授权后使用。

## 表单

form-optional = （选填）
form-error-prefix = 错误：

## 错误页

error-bad-request-title = 请求无效
error-csrf = 表单已过期或来源无法确认。请返回页面刷新后重试。
error-lang-input = 所选语言或返回地址无效。
error-not-found-title = 页面不存在
error-not-found-body = 您要访问的页面不存在或已被移除。
error-access-denied-title = 无权访问
error-access-denied-body = 您没有查看此内容的权限。
error-operators-only = 此页面仅供平台运营人员使用。
error-back-home = 返回首页
error-internal-title = 服务暂时出现问题
error-internal-body = 页面未能生成。请稍后重试；如果问题持续存在，请联系平台运营方。

## Accounts: sign-up, login, second factor

form-invalid = 提交的内容无效，请检查后重试。
field-choose = 请选择
field-role = 我是
field-login = 登录名
field-login-hint = 3至32位小写字母、数字或 _ . -
field-display-name = 姓名
field-password = 密码
field-password-hint = 至少10个字符，不能与登录名相同
field-resident-id = 居民身份证号码
field-resident-id-hint = 用于实名认证；平台只保存其加密副本和用于查重的密钥散列值
field-phone = 手机号码
field-licence = 医师执业证书编码
field-institution = 执业机构
field-specialty = 专业
field-practice-years = 独立执业年限
field-totp-code = 6位动态口令
field-totp-or-recovery = 动态口令或恢复码
signup-title = 注册
signup-lead = 请使用真实身份注册。医师注册后须经平台运营人员核验执业信息，核验通过前不能接诊或查阅患者信息。
signup-doctor-legend = 医师执业信息
signup-doctor-hint = 仅医师填写
signup-submit = 注册
signup-role-invalid = 请选择身份
signup-institution-required = 请选择执业机构
signup-specialty-invalid = 请填写专业（不超过40个字）
signup-years-invalid = 请填写0至70之间的整数
signup-login-taken = 该登录名已被使用
signup-identity-taken = 该身份证号码或手机号码已注册
signup-licence-taken = 该执业证书编码已被其他账号使用
signup-blacklisted = 无法注册：该身份、执业证书或手机号码已被列入黑名单
login-title = 登录
login-submit = 登录
login-no-account = 还没有账号？注册
login-bad-credentials = 登录名或密码错误
login-locked = 失败次数过多，账号已暂时锁定，请稍后再试
login-throttled = 来自您网络地址的登录尝试过多，请一分钟后再试
login-suspended = 账号已被暂停或列入黑名单
totp-enrol-title = 设置双重验证
totp-enrol-lead = 工作人员账号必须使用动态口令。请在身份验证器应用中添加下面的密钥，然后输入应用显示的6位口令。
totp-enrol-secret = 密钥
totp-enrol-uri = 链接
totp-enrol-submit = 确认并启用
totp-title = 双重验证
totp-lead = 请输入身份验证器中的6位口令，或一个未使用过的恢复码。
totp-submit = 验证
totp-bad-code = 口令错误或已使用过
recovery-title = 恢复码
recovery-lead = 请妥善保存这些恢复码。手机丢失时，每个恢复码可代替动态口令使用一次。它们只显示这一次。
recovery-continue = 我已保存，继续

## Privacy centre

privacy-title = 隐私中心
privacy-lead = 谁在何时、为何、依据什么查阅了您的信息；您的授权同意；下载您的全部数据。
privacy-access-heading = 访问记录
privacy-access-caption = 对您信息的每一次访问决定（包括被拒绝的），均已写入不可篡改的证据日志
privacy-access-empty = 目前还没有人查阅过您的信息。
privacy-col-when = 时间（UTC）
privacy-col-who = 访问者
privacy-col-action = 操作
privacy-col-purpose = 目的
privacy-col-outcome = 结果
privacy-col-basis = 法律依据
privacy-col-log = 日志条目
privacy-col-recipient = 接收方
privacy-col-category = 信息类别
privacy-col-notice = 告知书
privacy-col-granted = 同意时间
privacy-col-state = 状态
privacy-consents-heading = 我的同意
privacy-consents-caption = 您给予的同意（已撤回的也保留在历史中）
privacy-consents-empty = 您还没有给予任何同意。
privacy-by-guardian = 监护人代为同意
privacy-withdraw = 撤回
privacy-withdrawn-at = 已于 { $when } 撤回
privacy-grant-heading = 给予新的同意
privacy-notices-summary = 阅读告知书全文
privacy-field-subject = 为谁同意
privacy-subject-self = 本人
privacy-field-notice = 告知书
privacy-field-category = 信息类别
privacy-field-recipient = 接收机构
privacy-field-separate = 我单独同意处理该项敏感个人信息
privacy-field-separate-hint = 医疗健康、身份证件和金融账户信息属于敏感个人信息，须单独同意（个人信息保护法第二十九条）。
privacy-grant-submit = 同意
privacy-category-invalid = 请选择信息类别
privacy-download-heading = 下载我的数据
privacy-download-lead = 平台保存的您的全部记录（已解密），每条附有可离线验证的证据日志包含证明。
privacy-download = 下载（JSON）
record-title = 记录
record-id = 记录编号
record-kind = 类型
record-time = 发生时间（UTC）
record-log-index = 证据日志条目
record-access-recorded = 本次查阅已记录在患者的访问记录中。
record-binary = （二进制内容，请通过接口下载）

## Operator

verify-title = 医师核验
verify-lead = 核对执业证书编码、执业机构、专业和独立执业年限后作出决定；每项决定都写入证据日志。
verify-empty = 没有待核验的申请。
verify-submitted = 提交时间
verify-note = 备注（驳回时必填）
verify-approve = 核验通过
verify-reject = 驳回
verify-decision-invalid = 无法作出该决定：申请已处理，或驳回未填写理由。
blacklist-title = 黑名单
blacklist-lead = 暂停或拉黑医师、机构或个人。决定立即生效并写入证据日志；被拉黑者不能以新账号重新注册。
blacklist-field-kind = 对象类型
blacklist-field-target = 对象
blacklist-field-target-hint = 账号填登录名；机构填名称或编号
blacklist-field-measure = 措施
blacklist-field-reason = 理由
blacklist-submit = 执行
blacklist-caption = 暂停与黑名单记录
blacklist-col-target = 对象
blacklist-col-decided = 决定时间
blacklist-col-state = 状态
blacklist-empty = 暂无记录。
blacklist-lift = 解除
blacklist-lifted-at = 已于 { $when } 解除
sanction-kind-account = 账号
sanction-kind-organisation = 机构
sanction-measure-suspend = 暂停
sanction-measure-blacklist = 拉黑
sanction-target-unknown = 找不到该对象
sanction-invalid = 无法执行：请填写理由（不超过500字），且不能针对自己。

## Domain codes (tianping-identity message keys)

error-invalid-resident-id = 身份证号码无效
error-invalid-phone = 手机号码无效
error-invalid-licence = 医师执业证书编码应为15位数字
error-invalid-login-name = 登录名须为3至32位小写字母、数字或 _ . -，并以字母或数字开头
error-invalid-display-name = 姓名须为1至40个字符，且不含控制字符
error-weak-password = 密码须为10至128个字符，不能全为同一字符，也不能与登录名相同
error-unknown-role = 未知角色
error-unknown-org-kind = 未知机构类型
error-unknown-purpose = 未知处理目的
error-unknown-category = 未知信息类别
error-unknown-action = 未知操作
error-unknown-legal-basis = 未知法律依据
error-unknown-reason = 未知访问原因
error-invalid-totp-secret = 动态口令密钥无效
error-consent-stale-notice = 告知书已更新，请阅读最新版本后再同意
error-consent-category-not-in-notice = 该告知书未包含这类信息
error-consent-guardian-required = 未满十四周岁，须由监护人同意
error-consent-not-guardian-of-adult = 监护人不能代成年人同意
error-consent-separate-required = 敏感个人信息须单独同意，请勾选单独同意
error-consent-already-withdrawn = 该同意已撤回
access-own-data = 本人信息
access-entrusted-source = 提交方调阅其提交的记录
access-oversight-duty = 平台依法监管：核验医师或执行处罚
access-guardian-of-subject = 监护人代为查阅
access-consent-covers = 已获本人同意
access-supervision-duty = 依法履行监管职责
access-actor-suspended = 拒绝：账号已停用
access-doctor-not-verified = 拒绝：医师尚未完成核验
access-no-consent = 拒绝：未获本人同意
access-operator-no-health-data = 拒绝：运营人员不得查看敏感信息
access-purpose-not-allowed-for-role = 拒绝：该角色不得为此目的查阅
legal-basis-data-subject = 个人信息主体本人（个人信息保护法第四十五条）
legal-basis-guardian = 监护人（个人信息保护法第三十一条）
legal-basis-consent = 个人同意（个人信息保护法第十三条第一项）
legal-basis-legal-duty = 履行法定职责（个人信息保护法第十三条第三项）
legal-basis-entrusted = 委托处理（个人信息保护法第二十一条）
role-patient = 患者
role-guardian = 监护人
role-relative = 近亲属
role-doctor = 医师
role-institution-staff = 医疗机构工作人员
role-integration = 对接系统
role-mediator = 调解员
role-legal-aid-lawyer = 法律援助律师
role-medical-expert = 医学专家
role-insurer-adjuster = 保险理赔员
role-regulator = 监管人员
role-operator = 平台运营人员
org-kind-medical-institution = 医疗机构
org-kind-internet-hospital = 互联网医院
org-kind-consultation-platform = 健康咨询平台
org-kind-insurer = 保险公司
org-kind-mediation-committee = 医疗纠纷人民调解委员会
org-kind-legal-aid-body = 法律援助机构
org-kind-regulator = 监管部门
purpose-treatment = 诊疗
purpose-dispute = 医疗纠纷处理
purpose-insurance-claim = 保险理赔
purpose-supervision = 监管
purpose-research = 科学研究
purpose-quality-improvement = 医疗质量改进
data-category-identity = 身份信息
data-category-contact = 联系方式
data-category-consultation-record = 问诊记录
data-category-prescription = 处方
data-category-recording = 音视频
data-category-payment = 支付信息
data-category-health-profile = 健康档案
action-read = 查阅
action-export = 导出
action-list = 列表

## Doctor's evidence

evidence-title = 执业资格证明材料
evidence-status-pending = 您的执业信息正在等待平台核验。请上传医师执业证书等证明材料。
evidence-status-verified = 您的执业信息已核验通过。
evidence-status-rejected = 您的执业信息未通过核验。
evidence-empty = 尚未提交证明材料
evidence-field = 证明材料文件
evidence-hint = PDF、PNG 或 JPEG，每个不超过8 MiB；文件加密保存，仅核验人员可查阅，每次查阅都有记录。
evidence-submit = 上传
evidence-invalid = 无法接收：请选择PDF、PNG或JPEG文件，每个不超过8 MiB。
verify-evidence = 证明材料

## Online care: the duty queue, consultations, refunds, supervision

nav-duty = 值班队列
nav-consultations = 我的问诊
nav-refunds = 退费
nav-supervision = 监管指标
care-severity-critical = 危急
care-severity-high = 高
care-severity-medium = 中
care-severity-low = 低
care-status-open = 待确认
care-status-acknowledged = 已确认
care-status-resolved = 已处理
care-duty-title = 值班队列
care-duty-lead = 患者消息中出现的危险信号（不适合在线诊疗的情况），按紧急程度排列。请在期限内确认；逾期未确认的预警会逐级升级给下一位值班人员。每一次确认和处理都写入证据日志。
care-duty-empty = 目前没有待处理的预警。
care-duty-caption = 未处理的预警（最紧急的在前）
care-duty-col-severity = 严重程度
care-duty-col-signal = 危险信号
care-duty-col-org = 机构
care-duty-col-consultation = 问诊编号
care-duty-col-raised = 发出时间（UTC）
care-duty-col-deadline = 确认期限（UTC）
care-duty-col-level = 升级级别
care-duty-col-assignee = 负责人
care-duty-col-status = 状态
care-duty-col-actions = 操作
care-duty-overdue = 已逾期
care-duty-assignee-all = 全体值班人员
care-duty-acknowledge = 确认接手
care-duty-resolve = 标记为已处理
care-duty-note = 处理说明
care-duty-note-hint = 例如：已电话联系患者并建议急诊就医。加密保存。
care-duty-conflict = 该预警的状态已经改变（可能已被他人确认或处理），请查看最新的队列。
care-duty-not-found = 找不到该预警，或您无权处理。
care-note-too-long = 说明过长：最多2000字。
care-consult-title = 我的问诊
care-consult-lead = 您在各互联网医院和问诊平台的在线问诊。问诊结束后，您可以为医生和机构各评价一次。
care-consult-empty = 目前还没有您的问诊记录。
care-consult-institution = 机构
care-consult-doctor = 医生
care-consult-started = 开始时间（UTC）
care-consult-ended = 结束时间（UTC）
care-consult-ongoing = 进行中
care-consult-rated = 已评价
care-consult-rate-after-end = 问诊结束后即可评价。
care-consult-refund-link = 查看向该医生支付的问诊费（退费）
care-rating-doctor = 医生评分
care-rating-institution = 机构评分
care-rating-scale = 1至5分，5分为最满意
care-rating-comment = 评价内容
care-rating-submit = 提交评价
care-rating-invalid = 请为医生和机构各选择1至5分；评价内容最多1000字。
care-rating-conflict = 无法评价：该问诊尚未结束，或已经评价过。
care-refund-title = 退费
care-refund-lead = 按照法院在相关案例中的做法（案例000），只退还您为所选医生的问诊所支付的问诊费；向其他医生支付的费用、药费和充值余额不在此列。每一笔费用都附有证据日志中的收据，可独立验证。
care-refund-no-doctors = 您还没有问诊记录，因此没有可退的费用。
care-refund-doctor = 医生
care-refund-show = 计算退费
care-refund-doctor-unknown = 请从您问诊过的医生中选择。
care-refund-heading = 应退还的问诊费：{ $doctor }
care-refund-total = 合计：
care-refund-empty = 没有向该医生支付的问诊费。
care-refund-caption = 退还的问诊费及其收据
care-refund-col-consultation = 问诊编号
care-refund-col-when = 支付时间（UTC）
care-refund-col-amount = 金额
care-refund-col-receipt = 收据（证据日志条目）
care-refund-context-heading = 对照
care-refund-paid-all = 向所有医生支付的费用合计（不含充值）
care-refund-topped-up = 充值合计
care-refund-context-note = 以上两项仅供对照：退费只包括所选医生的问诊费。充值是支付各项费用的余额来源，本身不属于退费。
care-supervision-title = 监管指标
care-supervision-lead = 各机构和各医生的在线诊疗质量指标：问诊量、首次响应时间、中止率、转诊率、每百次问诊的合规问题数和患者评价。
care-supervision-generated = 生成时间：{ $when }
care-supervision-download = 下载：
care-supervision-csv = CSV 表格
care-supervision-json = JSON
care-supervision-fhir = FHIR R5（MeasureReport）
care-supervision-institutions = 机构
care-supervision-doctors = 医生
care-supervision-empty = 暂无数据。
care-supervision-caption = 指标（“—”表示尚无数据）
care-supervision-col-institution = 机构
care-supervision-col-doctor = 医生
care-supervision-col-consultations = 问诊数
care-supervision-col-ended = 已结束
care-supervision-col-response = 平均响应时间（秒）
care-supervision-col-termination = 中止率
care-supervision-col-referral = 转诊率
care-supervision-col-findings = 每百次问诊的合规问题
care-supervision-col-rating = 平均评分
care-supervision-ratings = 评价数：{ $count }
